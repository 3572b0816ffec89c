/**
 * What GET /version and GET /info say about this node, in Docker's shapes: the engine (Shoal), the host's kernel
 * features (the docker CLI prints "WARNING: No ... support" for each one reported false, so we report the truth),
 * and the Swarm section (node, managers, the cluster without its join tokens).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import type { NodeFacts } from './agent/executor';
import type { Node, Swarm, Task } from './api/types';
import { SHOAL_VERSION } from './version';

export function engineVersion(): object {
  return {
    Platform: { Name: 'Shoal' },
    Version: SHOAL_VERSION,
    ApiVersion: '1.41',
    MinAPIVersion: '1.24',
    GitCommit: '',
    GoVersion: process.version,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: os.release(),
    BuildTime: '',
    Components: [{ Name: 'Engine', Version: SHOAL_VERSION, Details: { ApiVersion: '1.41', MinAPIVersion: '1.24', Os: 'linux', Arch: goArch() } }],
  };
}

export interface InfoInput {
  facts: NodeFacts;
  executorKind: string;
  hostname?: string;
  dataDir: string;
  /** Present once the node is in a swarm. */
  swarm?: { nodeId: string; nodes: Node[]; cluster?: Swarm; localTasks: Task[] };
}

export function engineInfo(i: InfoInput): object {
  const sw = i.swarm;
  const tasks = sw?.localTasks ?? [];
  const running = tasks.filter((t) => t.Status.State === 'running').length;
  const nodes = sw?.nodes ?? [];
  const managers = nodes.filter((n) => n.Spec.Role === 'manager');
  const self = nodes.find((n) => n.ID === sw?.nodeId);
  return {
    ID: sw?.nodeId ?? '',
    Containers: tasks.length,
    ContainersRunning: running,
    ContainersPaused: 0,
    ContainersStopped: tasks.length - running,
    Images: 0,
    Driver: i.executorKind,
    DriverStatus: [],
    Plugins: { Volume: ['local'], Network: ['overlay'], Authorization: null, Log: ['json-file'] },
    ...hostFeatures(),
    NCPU: Math.round(i.facts.nanoCPUs / 1e9),
    MemTotal: i.facts.memoryBytes,
    Name: i.hostname ?? i.facts.hostname,
    ServerVersion: SHOAL_VERSION,
    KernelVersion: os.release(),
    OperatingSystem: `Shoal (${i.executorKind} executor)`,
    OSType: 'linux',
    Architecture: i.facts.architecture,
    IndexServerAddress: '',
    RegistryConfig: null,
    Labels: [],
    ExperimentalBuild: false,
    DockerRootDir: i.dataDir,
    Runtimes: {},
    DefaultRuntime: i.executorKind,
    LiveRestoreEnabled: true,
    Isolation: '',
    InitBinary: '',
    SecurityOptions: [],
    // Like dockerd, only real problems; an empty list makes the docker CLI fall back to the booleans above.
    Warnings: hostWarnings(),
    Swarm: {
      NodeID: sw?.nodeId ?? '',
      NodeAddr: self?.Status.Addr ?? '',
      LocalNodeState: sw ? 'active' : 'inactive',
      ControlAvailable: sw !== undefined,
      Error: '',
      RemoteManagers: managers.map((n) => ({ NodeID: n.ID, Addr: n.ManagerStatus?.Addr ?? '' })),
      Nodes: sw ? nodes.length : undefined,
      Managers: sw ? managers.length : undefined,
      Cluster: sw?.cluster ? { ...sw.cluster, JoinTokens: undefined } : undefined,
    },
  };
}

/** The kernel features Docker's /info reports as booleans, read from cgroup v1 or v2 and /proc. */
function hostFeatures(): Record<string, boolean> {
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const controllers = v2 ? readText('/sys/fs/cgroup/cgroup.controllers').split(/\s+/) : [];
  const has = (c: string): boolean => (v2 ? controllers.includes(c) : existsSync(`/sys/fs/cgroup/${c}`));
  return {
    MemoryLimit: has('memory'),
    SwapLimit: v2 ? has('memory') : existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'),
    KernelMemory: false,
    OomKillDisable: !v2 && existsSync('/sys/fs/cgroup/memory/memory.oom_control'),
    CpuCfsPeriod: has('cpu'),
    CpuCfsQuota: has('cpu'),
    CPUShares: has('cpu'),
    CPUSet: has('cpuset'),
    PidsLimit: has('pids'),
    IPv4Forwarding: readText('/proc/sys/net/ipv4/ip_forward') === '1',
    BridgeNfIptables: readText('/proc/sys/net/bridge/bridge-nf-call-iptables') === '1',
    BridgeNfIp6tables: readText('/proc/sys/net/bridge/bridge-nf-call-ip6tables') === '1',
  };
}

function hostWarnings(): string[] {
  return readText('/proc/sys/net/ipv4/ip_forward') === '0' ? ['WARNING: IPv4 forwarding is disabled'] : [];
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

function goArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}
