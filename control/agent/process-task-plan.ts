/**
 * How a swarm task becomes a host process: the command (Docker's Entrypoint + Cmd, i.e. ContainerSpec.Command
 * then Args), its environment, working directory, hostname, stop signal, resolv.conf and network interfaces.
 * Plain functions of the task; the only side effects are looking for files on the host (the command, the working
 * directory, the helper binaries). Every refusal happens in prepare(), so it makes the task REJECTED with a
 * message that says what to change.
 */
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Task } from '../api/types';
import type { TaskInterface } from '../../overlay/network-plumber';
import type { TaskLaunch } from './process-task-files';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function netnsName(taskId: string): string {
  return `shoal-${taskId}`;
}

/** Entrypoint + Cmd, as Docker runs them; refuses a task with neither. */
export function taskCommand(task: Task): string[] {
  const spec = task.Spec.ContainerSpec;
  const cmd = [...(spec.Command ?? []), ...(spec.Args ?? [])];
  if (cmd.length === 0) {
    const image = spec.Image || '<none>';
    throw new Error(
      `task has no command: the process executor runs the service's command from the host filesystem ` +
        `(image ${image} is not unpacked); give one, e.g. swarmctl service create ${image} sleep 3600`,
    );
  }
  return cmd;
}

/** A minimal environment (PATH, HOME, HOSTNAME) under the task's Env ("K=V"; a bare "K" is dropped, as Docker does when unset). */
export function taskEnv(task: Task, hostname: string): Record<string, string> {
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOME: '/root', HOSTNAME: hostname };
  for (const kv of task.Spec.ContainerSpec.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

/** The task's hostname: ContainerSpec.Hostname, else the first 12 characters of the task ID (as Docker uses the container's). */
export function taskHostname(task: Task): string {
  return task.Spec.ContainerSpec.Hostname || task.ID.slice(0, 12);
}

/** ContainerSpec.StopSignal ("SIGTERM", "TERM", "15") as a signal name; SIGTERM by default. */
export function stopSignal(task: Task): NodeJS.Signals {
  const raw = (task.Spec.ContainerSpec.StopSignal ?? '').trim().toUpperCase();
  if (!raw) return 'SIGTERM';
  const signals = osConstants.signals as Record<string, number>;
  if (/^\d+$/.test(raw)) {
    const name = Object.keys(signals).find((k) => signals[k] === Number(raw));
    if (name) return name as NodeJS.Signals;
  } else {
    const name = raw.startsWith('SIG') ? raw : `SIG${raw}`;
    if (name in signals) return name as NodeJS.Signals;
  }
  throw new Error(`invalid stop signal "${task.Spec.ContainerSpec.StopSignal}": use a name such as SIGTERM or a number`);
}

/** Finds a command as execvp would with this PATH; throws naming the command when it is not there. */
export function resolveCommand(cmd: string, pathVar: string, cwd: string): string {
  const candidates = cmd.includes('/')
    ? [isAbsolute(cmd) ? cmd : resolve(cwd, cmd)]
    : pathVar.split(':').filter(Boolean).map((dir) => join(dir, cmd));
  for (const p of candidates) {
    try {
      accessSync(p, fsConstants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  throw new Error(
    cmd.includes('/')
      ? `command "${cmd}" is not an executable file on this node (the process executor runs commands from the host filesystem)`
      : `command "${cmd}" not found in PATH ${pathVar} on this node (the process executor runs commands from the host filesystem; install it or give its full path)`,
  );
}

/**
 * The launch record: `ip netns exec` enters the task's namespace (and binds /etc/netns/NAME/resolv.conf), then
 * `unshare --uts` gives the task a hostname of its own without touching the node's; a shell brings lo up and sets
 * the hostname, then execs the task's command (so the task's pid is the one the shim started).
 */
export function taskLaunch(task: Task): TaskLaunch {
  const spec = task.Spec.ContainerSpec;
  if (spec.User && !['root', '0', '0:0', 'root:root'].includes(spec.User)) {
    throw new Error(`user "${spec.User}" is not supported by the process executor, which runs tasks as root; remove --user or use the docker executor`);
  }
  const cmd = taskCommand(task);
  const hostname = taskHostname(task);
  const env = taskEnv(task, hostname);
  const cwd = spec.Dir || '/';
  let isDir = false;
  try {
    isDir = statSync(cwd).isDirectory();
  } catch {
    /* reported below */
  }
  if (!isDir) throw new Error(`working directory "${cwd}" does not exist on this node`);
  resolveCommand(cmd[0], env.PATH, cwd);
  // The helpers are named by absolute path: the task's own PATH (which may be anything) only finds its command.
  const helperPath = `${DEFAULT_PATH}:${process.env.PATH ?? ''}`;
  const [ip, unshare, sh, hostnameBin] = ['ip', 'unshare', 'sh', 'hostname'].map((b) => resolveCommand(b, helperPath, '/'));
  // lo comes up here, inside the namespace, rather than by one more `ip -n NS` exec from swarmd per task.
  const setHostname = `'${ip}' link set lo up && '${hostnameBin}' "$1" && shift && exec "$@"`;
  return {
    argv: [ip, 'netns', 'exec', netnsName(task.ID), unshare, '--uts', '--', sh, '-c', setHostname, 'sh', hostname, ...cmd],
    env,
    cwd,
    stopSignal: stopSignal(task),
  };
}

/** resolv.conf text for ContainerSpec.DNSConfig, or undefined when it names no nameserver (the node's file is used). */
export function resolvConf(task: Task): string | undefined {
  const dns = task.Spec.ContainerSpec.DNSConfig;
  if (!dns?.Nameservers?.length) return undefined;
  const lines = dns.Nameservers.map((ns) => `nameserver ${ns}`);
  if (dns.Search?.length) lines.push(`search ${dns.Search.join(' ')}`);
  if (dns.Options?.length) lines.push(`options ${dns.Options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** The task's interfaces from its NetworksAttachments, in order (eth0 is the first). */
export function taskInterfaces(task: Task): TaskInterface[] {
  return (task.NetworksAttachments ?? []).map((a, i) => {
    const n = a.Network;
    const ipam = n.IPAM?.Config?.[0];
    const address = a.Addresses?.[0];
    if (!ipam?.Subnet) throw new Error(`network ${n.Name || n.ID} has no subnet (IPAM.Config[0].Subnet)`);
    if (!address) throw new Error(`task has no address on network ${n.Name || n.ID} (attachment ${i})`);
    return {
      network: { id: n.ID, name: n.Name, subnet: ipam.Subnet, gateway: ipam.Gateway || firstHost(ipam.Subnet), vni: n.VNI },
      address: address.includes('/') ? address : `${address}/${ipam.Subnet.split('/')[1]}`,
    };
  });
}

/** The subnet's first host address ("10.0.1.0/24" → "10.0.1.1"), Docker's default gateway. */
function firstHost(subnet: string): string {
  const [ip, len] = subnet.split('/');
  const n = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = Number(len) === 0 ? 0 : (0xffffffff << (32 - Number(len))) >>> 0;
  const h = ((n & mask) >>> 0) + 1;
  return [h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255].join('.');
}
