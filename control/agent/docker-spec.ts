/**
 * From a swarm task to the Docker container that runs it: the container's name, its labels and its create
 * options, as Docker's own swarm executor (swarmkit's container adapter) builds them, so `docker ps` on a Shoal
 * node shows what it shows on a Docker swarm node. Pure functions: the executor does the API calls.
 *
 * One deliberate difference: the container always gets NetworkMode "none". Shoal plugs the task's interfaces
 * into the container's namespace itself after start (as a CNI plugin would), so Docker's networking, iptables
 * and bridge stay out of the way. dockerd 20.10 still honours Hostname, Dns*, and ExtraHosts in that mode: it
 * writes /etc/hostname, /etc/resolv.conf and /etc/hosts for the container all the same.
 */
import type { ContainerCreateOptions, MountSettings } from 'dockerode';
import type { Mount, Task } from '../api/types';

/** Labels Docker puts on every swarm container; `com.docker.swarm.node.id` is also how Shoal finds its own. */
export const LABEL = {
  nodeId: 'com.docker.swarm.node.id',
  serviceId: 'com.docker.swarm.service.id',
  serviceName: 'com.docker.swarm.service.name',
  task: 'com.docker.swarm.task',
  taskId: 'com.docker.swarm.task.id',
  taskName: 'com.docker.swarm.task.name',
} as const;

/**
 * Docker's task name: `SERVICE.SLOT.TASKID` for a replicated task, `SERVICE.NODEID.TASKID` for a global one
 * (no slot). It is also the container's name. Without service annotations (a stub for a task known only by its
 * ID) there is no name to give, and the executor finds the container by its task-id label instead.
 */
export function containerName(task: Task, nodeId: string): string | undefined {
  const service = task.ServiceAnnotations?.Name;
  if (!service) return undefined;
  const middle = task.Slot !== undefined && task.Slot > 0 ? String(task.Slot) : task.NodeID || nodeId;
  return `${service}.${middle}.${task.ID}`;
}

export function containerLabels(task: Task, nodeId: string): Record<string, string> {
  // The swarm labels go last: a user label cannot pretend a container belongs to another task or node.
  return {
    ...(task.Spec.ContainerSpec.Labels ?? {}),
    [LABEL.serviceId]: task.ServiceID,
    [LABEL.serviceName]: task.ServiceAnnotations?.Name ?? '',
    [LABEL.task]: '',
    [LABEL.taskId]: task.ID,
    [LABEL.taskName]: containerName(task, nodeId) ?? task.ID,
    [LABEL.nodeId]: nodeId,
  };
}

function mountSettings(m: Mount): MountSettings {
  const type = m.Type ?? 'volume';
  // Docker refuses a Source on tmpfs mounts ("" is Go's unset); an anonymous volume has none either.
  const source = type === 'tmpfs' ? '' : (m.Source ?? '');
  return { Type: type, Source: source, Target: m.Target ?? '', ReadOnly: m.ReadOnly ?? false };
}

/** `host:ip` (Docker CLI form, already normalised by the API) or `ip host [alias...]` (/etc/hosts form). */
function extraHost(entry: string): string[] {
  const parts = entry.trim().split(/\s+/);
  if (parts.length === 1) return [entry];
  const [ip, ...names] = parts;
  return names.map((n) => `${n}:${ip}`);
}

export function createOptions(task: Task, nodeId: string): ContainerCreateOptions {
  const spec = task.Spec.ContainerSpec;
  const limits = task.Spec.Resources?.Limits;
  const reservations = task.Spec.Resources?.Reservations;
  const dns = spec.DNSConfig;
  const logDriver = task.Spec.LogDriver;
  const opts: ContainerCreateOptions = {
    name: containerName(task, nodeId),
    Image: spec.Image,
    Labels: containerLabels(task, nodeId),
    Env: spec.Env ?? [],
    Tty: spec.TTY ?? false,
    OpenStdin: spec.OpenStdin ?? false,
    HostConfig: {
      NetworkMode: 'none',
      Init: spec.Init ?? undefined,
      ReadonlyRootfs: spec.ReadOnly ?? false,
      NanoCpus: limits?.NanoCPUs || undefined,
      Memory: limits?.MemoryBytes || undefined,
      MemoryReservation: reservations?.MemoryBytes || undefined,
      PidsLimit: limits?.Pids || undefined,
      Mounts: (spec.Mounts ?? []).map(mountSettings),
      Dns: dns?.Nameservers ?? [],
      DnsSearch: dns?.Search ?? [],
      DnsOptions: dns?.Options ?? [],
      ExtraHosts: (spec.Hosts ?? []).flatMap(extraHost),
      LogConfig: logDriver ? { Type: logDriver.Name, Config: logDriver.Options ?? {} } : undefined,
      // Docker's swarm executor never lets the engine restart a task: the orchestrator does.
      RestartPolicy: { Name: 'no' },
    },
  };
  // Command replaces the image's ENTRYPOINT and Args its CMD, as `docker service create IMAGE ARGS...` does.
  if (spec.Command?.length) opts.Entrypoint = spec.Command;
  if (spec.Args?.length) opts.Cmd = spec.Args;
  if (spec.Dir) opts.WorkingDir = spec.Dir;
  if (spec.User) opts.User = spec.User;
  if (spec.Hostname) opts.Hostname = spec.Hostname;
  if (spec.StopSignal) opts.StopSignal = spec.StopSignal;
  if (spec.Healthcheck) {
    const h = spec.Healthcheck;
    // Same field names and units (nanoseconds) in swarm and container health configs.
    opts.Healthcheck = { Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries };
  }
  return opts;
}
