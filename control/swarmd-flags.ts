/**
 * swarmd's command line: flags → a plain config, with Docker-style defaults and errors that name the flag.
 */
import { parseLogLevel, type LogLevel } from './base/log';

export interface SwarmdFlags {
  host: string;
  dataDir: string;
  executor?: 'docker' | 'process';
  dockerHost: string;
  listenAddr: string;
  advertiseAddr?: string;
  hostname?: string;
  logLevel: LogLevel;
  /** host:port for /metrics and /healthz, or undefined when disabled. */
  metricsAddr?: { host: string; port: number };
  /** The routing-mesh backend; auto: iptables when it works here, else userspace. */
  mesh: 'auto' | 'userspace' | 'iptables';
  /** Processes serving the userspace mesh's TCP listeners (auto: one per CPU). */
  meshWorkers: number | 'auto';
  /** Remove what a dead swarmd left in the network stack, then exit. */
  cleanup: boolean;
  /** The embedded DNS resolver's address ('' disables it). */
  dnsAddr: string;
  /** Upstream resolvers (host[:port]); the host's resolv.conf when none. */
  dnsUpstreams: { host: string; port: number }[];
  help: boolean;
  version: boolean;
}

export const SWARMD_USAGE = `Usage: swarmd [OPTIONS]

Runs a Shoal node: the Docker-compatible control socket, and once in a swarm, the manager and the worker.

Options:
      --host string            control socket (default "unix:///var/run/swarmd.sock")
      --data-dir string        state directory (default "/var/lib/shoal")
      --executor string        docker or process (default: docker when an engine answers at --docker-host, else process)
      --docker-host string     Docker engine for the docker executor (default $DOCKER_HOST or "unix:///var/run/docker.sock")
      --listen-addr string     cluster API address (default "0.0.0.0:2377")
      --advertise-addr string  address other nodes reach this node at
      --hostname string        node hostname (default: the machine's)
  -l, --log-level string       debug, info, warn or error (default "info")
      --metrics-addr string    Prometheus /metrics and /healthz (default "0.0.0.0:9323"; "" disables)
      --mesh string            routing mesh: iptables rules or userspace proxies (default: iptables when the
                               iptables binaries and the nat table work, else userspace)
      --mesh-workers N|auto    processes that relay the userspace mesh's TCP connections, sharing each port
                               (default 1: inside swarmd; more use more cores at ~40 MB of memory each; auto:
                               one per CPU). UDP and the iptables mesh's loopback listeners stay in swarmd
      --dns-addr string        address of the embedded DNS resolver tasks use (default "169.254.53.53"; "" disables)
      --dns-upstream ip[:port] resolver for other names, repeatable (default: the host's /etc/resolv.conf)
      --cleanup                remove the mesh's iptables chains, service VIPs and the resolver address a
                               swarmd that is not running left behind, then exit (tasks are left alone)
  -v, --version                print the version and exit
  -h, --help                   print this help
`;

export function parseSwarmdFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): SwarmdFlags {
  const flags: SwarmdFlags = {
    host: 'unix:///var/run/swarmd.sock',
    dataDir: '/var/lib/shoal',
    dockerHost: env.DOCKER_HOST || 'unix:///var/run/docker.sock',
    listenAddr: '0.0.0.0:2377',
    logLevel: 'info',
    metricsAddr: { host: '0.0.0.0', port: 9323 },
    mesh: 'auto',
    meshWorkers: 1,
    cleanup: false,
    dnsAddr: '169.254.53.53',
    dnsUpstreams: [],
    help: false,
    version: false,
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = (): string => {
      if (value !== undefined) return value;
      const v = argv[++i];
      if (v === undefined) throw new Error(`flag needs an argument: ${arg}`);
      return v;
    };
    switch (arg) {
      case '--host':
      case '-H':
        flags.host = next();
        if (!/^(unix|tcp):\/\//.test(flags.host)) throw new Error(`invalid --host "${flags.host}": use unix:///path or tcp://host:port`);
        break;
      case '--data-dir':
        flags.dataDir = next();
        break;
      case '--executor': {
        const v = next();
        if (v !== 'docker' && v !== 'process') throw new Error(`invalid --executor "${v}": use docker or process`);
        flags.executor = v;
        break;
      }
      case '--docker-host':
        flags.dockerHost = next();
        break;
      case '--listen-addr':
        flags.listenAddr = withPort(next(), '--listen-addr');
        break;
      case '--advertise-addr':
        flags.advertiseAddr = next();
        break;
      case '--hostname':
        flags.hostname = next();
        break;
      case '--log-level':
      case '-l':
        flags.logLevel = parseLogLevel(next());
        break;
      case '--metrics-addr': {
        const v = next();
        if (v === '') {
          flags.metricsAddr = undefined;
          break;
        }
        const m = /^(.*):(\d+)$/.exec(v);
        if (!m || Number(m[2]) > 65535) throw new Error(`invalid --metrics-addr "${v}": use HOST:PORT (e.g. 0.0.0.0:9323), or "" to serve no metrics`);
        flags.metricsAddr = { host: m[1] || '0.0.0.0', port: Number(m[2]) };
        break;
      }
      case '--mesh': {
        const v = next();
        if (v !== 'auto' && v !== 'userspace' && v !== 'iptables') throw new Error(`invalid --mesh "${v}": use iptables, userspace or auto`);
        flags.mesh = v;
        break;
      }
      case '--mesh-workers': {
        const v = next();
        if (v === 'auto') flags.meshWorkers = 'auto';
        else if (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 64) flags.meshWorkers = Number(v);
        else throw new Error(`invalid --mesh-workers "${v}": use a number of processes from 1 to 64, or auto (one per CPU)`);
        break;
      }
      case '--dns-addr': {
        const v = next();
        if (v !== '' && !/^\d{1,3}(\.\d{1,3}){3}$/.test(v)) throw new Error(`invalid --dns-addr "${v}": use an IPv4 address, or "" to run no resolver`);
        flags.dnsAddr = v;
        break;
      }
      case '--dns-upstream': {
        const v = next();
        const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d+))?$/.exec(v);
        if (!m) throw new Error(`invalid --dns-upstream "${v}": use IP or IP:PORT, e.g. 192.0.2.53 or 127.0.0.1:5353`);
        flags.dnsUpstreams.push({ host: m[1], port: m[2] ? Number(m[2]) : 53 });
        break;
      }
      case '--cleanup':
        flags.cleanup = true;
        break;
      case '--version':
      case '-v':
        flags.version = true;
        break;
      case '--help':
      case '-h':
        flags.help = true;
        break;
      default:
        throw new Error(`unknown flag: ${arg} (see swarmd --help)`);
    }
  }
  return flags;
}

function withPort(addr: string, flag: string): string {
  if (/^\d+$/.test(addr)) return `0.0.0.0:${addr}`;
  if (!/:\d+$/.test(addr)) throw new Error(`invalid ${flag} "${addr}": use HOST:PORT, e.g. 0.0.0.0:2377`);
  return addr;
}
