/**
 * Tiny factories for Docker swarm objects in tests: a Node, Service or Task that is valid and boring by default,
 * with only the fields a test cares about passed in. IDs are readable ("node-1", "task-3") rather than random,
 * so assertion failures read well; timestamps are fixed so outputs are deterministic.
 */
import type {
  Labels,
  Node,
  NodeAvailability,
  NodeRole,
  NodeState,
  Placement,
  PortConfig,
  Service,
  Task,
  TaskSpec,
  TaskState,
} from '../../control/api/types';

export const FIXED_TIME = '2026-01-01T00:00:00Z';

let seq = 0;
/** A readable unique ID: `prefix-N`. */
export const fakeId = (prefix: string): string => `${prefix}-${++seq}`;

const meta = (id: string) => ({ ID: id, Version: { Index: 1 }, CreatedAt: FIXED_TIME, UpdatedAt: FIXED_TIME });

export interface FakeNodeOptions {
  id?: string;
  hostname?: string;
  role?: NodeRole;
  availability?: NodeAvailability;
  state?: NodeState;
  addr?: string;
  labels?: Labels;
  engineLabels?: Labels;
  os?: string;
  arch?: string;
  /** Whole CPUs (converted to NanoCPUs). Default 4. */
  cpus?: number;
  /** Default 8 GiB. */
  memoryBytes?: number;
}

export function fakeNode(o: FakeNodeOptions = {}): Node {
  const id = o.id ?? fakeId('node');
  return {
    ...meta(id),
    Spec: { Labels: o.labels ?? {}, Role: o.role ?? 'worker', Availability: o.availability ?? 'active' },
    Description: {
      Hostname: o.hostname ?? id,
      Platform: { Architecture: o.arch ?? 'x86_64', OS: o.os ?? 'linux' },
      Resources: { NanoCPUs: (o.cpus ?? 4) * 1e9, MemoryBytes: o.memoryBytes ?? 8 * 2 ** 30 },
      Engine: { EngineVersion: '27.0.0', Labels: o.engineLabels ?? {} },
    },
    Status: { State: o.state ?? 'ready', Addr: o.addr ?? '10.0.0.1' },
  };
}

export interface FakeServiceOptions {
  id?: string;
  name?: string;
  replicas?: number;
  global?: boolean;
  specVersion?: number;
  placement?: Placement;
  /** Whole CPUs reserved per task. */
  reserveCpus?: number;
  reserveMemoryBytes?: number;
  ports?: PortConfig[];
}

export function fakeTaskSpec(o: FakeServiceOptions = {}): TaskSpec {
  const spec: TaskSpec = { ContainerSpec: { Image: 'busybox:latest' } };
  if (o.reserveCpus !== undefined || o.reserveMemoryBytes !== undefined) {
    spec.Resources = {
      Reservations: { NanoCPUs: (o.reserveCpus ?? 0) * 1e9, MemoryBytes: o.reserveMemoryBytes ?? 0 },
    };
  }
  if (o.placement) spec.Placement = o.placement;
  return spec;
}

export function fakeService(o: FakeServiceOptions = {}): Service {
  const id = o.id ?? fakeId('service');
  const version = { Index: o.specVersion ?? 1 };
  const endpointSpec = o.ports ? { Mode: 'vip' as const, Ports: o.ports } : { Mode: 'vip' as const };
  return {
    ...meta(id),
    Version: version,
    Spec: {
      Name: o.name ?? id,
      TaskTemplate: fakeTaskSpec(o),
      Mode: o.global ? { Global: {} } : { Replicated: { Replicas: o.replicas ?? 1 } },
      EndpointSpec: endpointSpec,
    },
    Endpoint: { Spec: endpointSpec, Ports: o.ports },
    SpecVersion: version,
  };
}

export interface FakeTaskOptions {
  id?: string;
  nodeId?: string;
  slot?: number;
  state?: TaskState;
  desired?: TaskState;
  timestamp?: string;
  /** Overrides the spec copied from the service. */
  spec?: TaskSpec;
}

/** A task of `service`, copying its spec, spec version and endpoint as the orchestrator does. Default: pending. */
export function fakeTask(service: Service, o: FakeTaskOptions = {}): Task {
  const id = o.id ?? fakeId('task');
  const task: Task = {
    ...meta(id),
    Labels: {},
    Spec: o.spec ?? service.Spec.TaskTemplate,
    ServiceID: service.ID,
    Status: { Timestamp: o.timestamp ?? FIXED_TIME, State: o.state ?? 'pending', Message: '' },
    DesiredState: o.desired ?? 'running',
    SpecVersion: service.SpecVersion,
    ServiceAnnotations: { Name: service.Spec.Name },
    Endpoint: service.Endpoint,
  };
  if (o.slot !== undefined) task.Slot = o.slot;
  if (o.nodeId !== undefined) task.NodeID = o.nodeId;
  return task;
}

/** `n` pending tasks of `service`, slots 1..n. */
export function fakePendingTasks(service: Service, n: number): Task[] {
  return Array.from({ length: n }, (_, i) => fakeTask(service, { slot: i + 1 }));
}

/** An assigned task that runs `container` directly (executor tests): no service, no slot, no networks. */
export function fakeAssignedTask(id: string, container: Task['Spec']['ContainerSpec'], attachments: Task['NetworksAttachments'] = []): Task {
  return {
    ID: id,
    Version: { Index: 1 },
    CreatedAt: '',
    UpdatedAt: '',
    Labels: {},
    Spec: { ContainerSpec: container },
    ServiceID: 'svc',
    Status: { Timestamp: '', State: 'assigned', Message: '' },
    DesiredState: 'running',
    NetworksAttachments: attachments,
  };
}
