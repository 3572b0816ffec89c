/**
 * The data-plane lab bench/mesh measures in, built from network namespaces so nothing touches the host:
 *
 *   client ns (wrk, UDP load)  ── veth ──  node ns (the mesh, HAProxy, hand DNAT)  ── bridge br-ing ──  backend ns
 *   192.168.230.2                          192.168.230.1 / 10.77.0.1                                   10.77.0.5, .6
 *
 * The node namespace routes between the two, like a swarm node between its uplink and its ingress bridge. The
 * backend namespace holds two task addresses; each has its own nginx (no master, one worker: a task) answering
 * HTTP on :80 and its own UDP echo server on :9000. Every target is reached from the client through the node
 * namespace, so "direct" (client → a backend's address, plain forwarding) crosses the same hops as the mesh.
 * destroy() stops every process the lab started and deletes the namespaces and the temp dir.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from '../../control/base/exec';
import { NsProcess } from './ns-process';
import { waitTcpInNs } from './wait-tcp';

export const NODE_IP = '192.168.230.1';
export const CLIENT_IP = '192.168.230.2';
export const BACKEND_IPS = ['10.77.0.5', '10.77.0.6'] as const;
export const BRIDGE = 'br-ing';
export const HTTP_PORT = 80;
export const UDP_PORT = 9000;

const UDP_ECHO = join(__dirname, 'udp-echo.js');

export class MeshLab {
  readonly id = randomBytes(3).toString('hex');
  readonly ns = { client: `shb-cl-${this.id}`, node: `shb-node-${this.id}`, backend: `shb-be-${this.id}` };
  readonly dir = mkdtempSync(join(tmpdir(), 'shoal-bench-mesh-'));
  private readonly procs: NsProcess[] = [];
  private made: string[] = [];

  async build(): Promise<void> {
    for (const ns of Object.values(this.ns)) {
      await exec(['ip', 'netns', 'add', ns]);
      this.made.push(ns);
      await this.sh(ns, 'ip link set lo up');
      // Connection-per-request runs open ~10k connections a second: give them room.
      await this.sh(ns, 'sysctl -q -w net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=4096');
    }
    const { client, node, backend } = this.ns;
    await exec(['ip', 'link', 'add', 'up0', 'netns', node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client]);
    await this.sh(node, `ip addr add ${NODE_IP}/24 dev up0 && ip link set up0 up && sysctl -q -w net.ipv4.ip_forward=1`);
    await this.sh(client, `ip addr add ${CLIENT_IP}/24 dev eth0 && ip link set eth0 up && ip route add default via ${NODE_IP}`);
    await this.sh(node, `ip link add ${BRIDGE} type bridge && ip addr add 10.77.0.1/24 dev ${BRIDGE} && ip link set ${BRIDGE} up`);
    await exec(['ip', 'link', 'add', 'vbe0', 'netns', node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', backend]);
    await this.sh(node, `ip link set vbe0 master ${BRIDGE} && ip link set vbe0 up`);
    await this.sh(backend, `${BACKEND_IPS.map((ip) => `ip addr add ${ip}/24 dev eth0`).join(' && ')} && ip link set eth0 up && ip route add default via 10.77.0.1`);
    for (const ip of BACKEND_IPS) {
      this.start(`nginx ${ip}`, backend, ['nginx', '-c', this.nginxConfig(ip), '-e', join(this.dir, `nginx-${ip}.err`)]);
      this.start(`udp echo ${ip}`, backend, [process.execPath, UDP_ECHO, ip, String(UDP_PORT)]);
    }
    for (const ip of BACKEND_IPS) await this.waitTcp(client, ip, HTTP_PORT);
  }

  /** Starts a long-running process in one of the lab's namespaces; destroy() stops it if the caller did not. */
  start(label: string, netns: string, argv: string[], env?: NodeJS.ProcessEnv): NsProcess {
    const p = new NsProcess(label, netns, argv, env);
    this.procs.push(p);
    return p;
  }

  async sh(netns: string, cmd: string): Promise<string> {
    return (await exec(['ip', 'netns', 'exec', netns, 'sh', '-c', cmd])).stdout;
  }

  /** Waits (up to 10 s) until host:port accepts a TCP connection from inside netns. */
  async waitTcp(netns: string, host: string, port: number): Promise<void> {
    try {
      await waitTcpInNs(netns, host, port);
    } catch {
      throw new Error(`${host}:${port} did not accept connections from ${netns} within 10 s:\n${this.procs.map((p) => `${p.label}: ${p.logs().slice(-500)}`).join('\n')}`);
    }
  }

  /**
   * Makes the client's traffic leave from a source address of its own (192.168.230.N, N ≥ 10), used by nothing
   * before. Targets must not share client addresses: a connection-per-request run reuses every client port within
   * seconds, and what one target left behind for the same 4-tuple — TIME_WAIT sockets in the backends (the server
   * closes first) and conntrack entries in the node whose reply tuple is backend:80 → client:port — makes the next
   * target's SYNs meet stale state (likely: a backend's TIME_WAIT socket refuses a SYN whose sequence and timestamps
   * derive from a different tuple — the client's, before a DNAT — and a DNAT whose reply tuple is still taken
   * cannot be set up). Measured: a DNAT target run alone had no retransmissions; after `direct` it had 12k, and
   * the second DNAT target of a run lost 90 % of its throughput to 1 s SYN retransmissions.
   */
  async useClientAddress(n: number): Promise<string> {
    if (n < 10 || n > 250) throw new Error(`client address index ${n}: use 10..250`);
    const ip = `192.168.230.${n}`;
    await this.sh(this.ns.client, `ip addr add ${ip}/24 dev eth0 && ip route replace 192.168.230.0/24 dev eth0 src ${ip} && ip route replace default via ${NODE_IP} src ${ip}`);
    return ip;
  }

  /**
   * TCP retransmitted segments and listen-queue drops summed over the lab's namespaces (each namespace has its
   * own /proc/net/snmp and /proc/net/netstat): a latency tail of ~200 ms or ~1 s is a lost segment or SYN.
   */
  async tcpTrouble(): Promise<{ retrans: number; listenDrops: number }> {
    let retrans = 0;
    let listenDrops = 0;
    for (const ns of Object.values(this.ns)) {
      const text = await this.sh(ns, 'cat /proc/net/snmp /proc/net/netstat');
      retrans += snmpField(text, 'Tcp', 'RetransSegs');
      listenDrops += snmpField(text, 'TcpExt', 'ListenDrops');
    }
    return { retrans, listenDrops };
  }

  async destroy(): Promise<void> {
    for (const p of this.procs.splice(0).reverse()) await p.stop();
    for (const ns of this.made.splice(0).reverse()) await exec(['ip', 'netns', 'del', ns]).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** One backend task: nginx in the foreground without a master, one worker, a fixed short answer, no logs. */
  private nginxConfig(ip: string): string {
    const d = this.dir;
    const path = join(d, `nginx-${ip}.conf`);
    writeFileSync(
      path,
      `daemon off;
master_process off;
worker_processes 1;
pid ${d}/nginx-${ip}.pid;
error_log ${d}/nginx-${ip}.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${d}/body-${ip};
  proxy_temp_path ${d}/proxy-${ip};
  fastcgi_temp_path ${d}/fastcgi-${ip};
  uwsgi_temp_path ${d}/uwsgi-${ip};
  scgi_temp_path ${d}/scgi-${ip};
  server {
    listen ${ip}:${HTTP_PORT} backlog=4096;
    location / { return 200 "task ${ip}\\n"; }
  }
}
`,
    );
    return path;
  }
}

/** A counter from /proc/net/snmp-style text: a header line and a value line, both starting with `GROUP:`. */
function snmpField(text: string, group: string, field: string): number {
  const lines = text.split('\n').filter((l) => l.startsWith(`${group}: `));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const i = names.indexOf(field);
  return i > 0 ? Number(values[i]) : 0;
}
