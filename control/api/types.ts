/**
 * Docker's swarm types, field for field as the Engine API v1.41 serialises them (PascalCase JSON), so objects
 * go from the store to the socket unchanged and the real docker CLI reads them. Durations are nanoseconds,
 * CPU is NanoCPUs, memory is bytes, timestamps are RFC 3339 strings. A few internal fields that Docker keeps
 * in swarmkit but does not serialise are marked "Shoal:"; clients ignore unknown fields.
 */

export interface Version {
  Index: number;
}

export interface Meta {
  ID: string;
  Version: Version;
  CreatedAt: string;
  UpdatedAt: string;
}

export type Labels = Record<string, string>;

// ---- tasks -------------------------------------------------------------------------------------------------

/** Docker's task states, in swarmkit's order (the numbers are swarmkit's enum values: comparisons are order). */
export const TASK_STATES = {
  new: 0,
  allocated: 32,
  pending: 64,
  assigned: 192,
  accepted: 256,
  preparing: 320,
  ready: 384,
  starting: 448,
  running: 512,
  complete: 576,
  shutdown: 640,
  failed: 704,
  rejected: 768,
  remove: 800,
  orphaned: 832,
} as const;
export type TaskState = keyof typeof TASK_STATES;

export interface ContainerStatus {
  ContainerID?: string;
  PID?: number;
  ExitCode?: number;
}

export interface PortConfig {
  Name?: string;
  Protocol?: 'tcp' | 'udp' | 'sctp';
  TargetPort?: number;
  PublishedPort?: number;
  PublishMode?: 'ingress' | 'host';
  /** Shoal: bind a published port to one node address (Docker cannot: moby#26696). */
  HostIP?: string;
}

export interface TaskStatus {
  Timestamp: string;
  State: TaskState;
  Message: string;
  Err?: string;
  ContainerStatus?: ContainerStatus;
  PortStatus?: { Ports?: PortConfig[] };
}

export interface NetworkAttachment {
  Network: Network;
  Addresses: string[]; // CIDR form, e.g. "10.0.1.5/24"
}

export interface Task extends Meta {
  Name?: string;
  Labels: Labels;
  Spec: TaskSpec;
  ServiceID: string;
  Slot?: number; // replicated services only
  NodeID?: string;
  Status: TaskStatus;
  DesiredState: TaskState;
  NetworksAttachments?: NetworkAttachment[];
  /** Shoal: the service version the task spec was copied from (swarmkit's Task.SpecVersion). */
  SpecVersion?: Version;
  /** Shoal: service annotations copied in, so agents can name containers without reading services. */
  ServiceAnnotations?: { Name: string; Labels?: Labels };
  /** Shoal: endpoint copied from the service at creation (swarmkit's Task.Endpoint). */
  Endpoint?: Endpoint;
  /** Shoal: the moment the manager recorded the last status (swarmkit's AppliedAt). */
  AppliedAt?: string;
}

// ---- services ----------------------------------------------------------------------------------------------

export interface Mount {
  Type?: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

export interface DNSConfig {
  Nameservers?: string[];
  Search?: string[];
  Options?: string[];
}

export interface ContainerSpec {
  Image: string;
  Labels?: Labels;
  Command?: string[];
  Args?: string[];
  Hostname?: string;
  Env?: string[];
  Dir?: string;
  User?: string;
  Init?: boolean;
  TTY?: boolean;
  OpenStdin?: boolean;
  ReadOnly?: boolean;
  Mounts?: Mount[];
  StopSignal?: string;
  StopGracePeriod?: number;
  Healthcheck?: HealthConfig;
  Hosts?: string[];
  DNSConfig?: DNSConfig;
  Isolation?: string;
}

export interface ResourceSpec {
  NanoCPUs?: number;
  MemoryBytes?: number;
  Pids?: number;
}

export interface RestartPolicy {
  Condition?: 'none' | 'on-failure' | 'any';
  Delay?: number;
  MaxAttempts?: number;
  Window?: number;
}

export interface Placement {
  Constraints?: string[];
  Preferences?: { Spread: { SpreadDescriptor: string } }[];
  MaxReplicas?: number;
  Platforms?: { Architecture?: string; OS?: string }[];
}

export interface NetworkAttachmentConfig {
  Target: string;
  Aliases?: string[];
}

export interface TaskSpec {
  ContainerSpec: ContainerSpec;
  Resources?: { Limits?: ResourceSpec; Reservations?: ResourceSpec };
  RestartPolicy?: RestartPolicy;
  Placement?: Placement;
  Networks?: NetworkAttachmentConfig[];
  LogDriver?: { Name: string; Options?: Record<string, string> };
  ForceUpdate?: number;
  Runtime?: string;
}

export interface UpdateConfig {
  Parallelism?: number;
  Delay?: number;
  FailureAction?: 'pause' | 'continue' | 'rollback';
  Monitor?: number;
  MaxFailureRatio?: number;
  Order?: 'stop-first' | 'start-first';
}

export interface EndpointSpec {
  Mode?: 'vip' | 'dnsrr';
  Ports?: PortConfig[];
}

export interface ServiceMode {
  Replicated?: { Replicas?: number };
  Global?: Record<string, never>;
}

export interface ServiceSpec {
  Name: string;
  Labels?: Labels;
  TaskTemplate: TaskSpec;
  Mode: ServiceMode;
  UpdateConfig?: UpdateConfig;
  RollbackConfig?: UpdateConfig;
  EndpointSpec?: EndpointSpec;
  /** Deprecated in Docker but still accepted: moved into TaskTemplate.Networks on create. */
  Networks?: NetworkAttachmentConfig[];
}

export interface VirtualIP {
  NetworkID: string;
  Addr: string; // CIDR
}

export interface Endpoint {
  Spec: EndpointSpec;
  Ports?: PortConfig[];
  VirtualIPs?: VirtualIP[];
}

export type UpdateState =
  | 'updating'
  | 'paused'
  | 'completed'
  | 'rollback_started'
  | 'rollback_paused'
  | 'rollback_completed';

export interface UpdateStatus {
  State?: UpdateState;
  StartedAt?: string;
  CompletedAt?: string;
  Message?: string;
}

export interface Service extends Meta {
  Spec: ServiceSpec;
  PreviousSpec?: ServiceSpec;
  Endpoint: Endpoint;
  UpdateStatus?: UpdateStatus;
  /** Shoal: the version of Spec (swarmkit's SpecVersion); tasks carry it to tell old spec from new. */
  SpecVersion?: Version;
  PreviousSpecVersion?: Version;
}

// ---- nodes -------------------------------------------------------------------------------------------------

export type NodeRole = 'worker' | 'manager';
export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeState = 'unknown' | 'down' | 'ready' | 'disconnected';

export interface NodeSpec {
  Name?: string;
  Labels?: Labels;
  Role: NodeRole;
  Availability: NodeAvailability;
}

export interface NodeDescription {
  Hostname: string;
  Platform: { Architecture: string; OS: string };
  Resources: { NanoCPUs: number; MemoryBytes: number };
  Engine: { EngineVersion: string; Labels?: Labels; Plugins?: { Type: string; Name: string }[] };
  TLSInfo?: { TrustRoot?: string; CertIssuerSubject?: string; CertIssuerPublicKey?: string };
}

export interface Node extends Meta {
  Spec: NodeSpec;
  Description: NodeDescription;
  Status: { State: NodeState; Message?: string; Addr: string };
  ManagerStatus?: { Leader?: boolean; Reachability: 'unknown' | 'unreachable' | 'reachable'; Addr: string };
}

// ---- networks ----------------------------------------------------------------------------------------------

export interface IPAMConfig {
  Subnet: string;
  Gateway?: string;
}

export interface Network {
  ID: string;
  Name: string;
  Created: string;
  Scope: 'swarm' | 'local';
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IPAMConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, unknown> | null;
  Options: Record<string, string>;
  Labels: Labels;
  /** Shoal: optimistic-concurrency version, like every other stored object. */
  Version?: Version;
  /** Shoal: VXLAN network identifier, allocated with the subnet (used by the overlay). */
  VNI?: number;
}

// ---- the swarm (cluster) object ----------------------------------------------------------------------------

export interface SwarmSpec {
  Name: string;
  Labels: Labels;
  Orchestration: { TaskHistoryRetentionLimit: number };
  Raft: {
    SnapshotInterval: number;
    KeepOldSnapshots: number;
    LogEntriesForSlowFollowers: number;
    ElectionTick: number;
    HeartbeatTick: number;
  };
  Dispatcher: { HeartbeatPeriod: number };
  CAConfig: { NodeCertExpiry: number; ForceRotate?: number };
  TaskDefaults: Record<string, unknown>;
  EncryptionConfig: { AutoLockManagers: boolean };
}

export interface Swarm extends Meta {
  Spec: SwarmSpec;
  TLSInfo: { TrustRoot: string; CertIssuerSubject: string; CertIssuerPublicKey: string };
  RootRotationInProgress: boolean;
  DefaultAddrPool: string[];
  SubnetSize: number;
  DataPathPort: number;
  JoinTokens: { Worker: string; Manager: string };
}
