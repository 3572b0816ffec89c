/**
 * A mesh worker process: serves the userspace TCP listeners it is told to (worker-protocol.ts). With the native
 * relay each worker binds a socket of its own in the port's SO_REUSEPORT group; with Node's handles the workers
 * share the primary's one listening socket through the cluster module. Either way the kernel hands each
 * connection to one of them. It keeps no state of its own beyond what the primary sent, so a restarted worker is
 * rebuilt by replaying the primary's state.
 *
 * It dies with swarmd: the cluster module exits a worker whose IPC channel to the primary closes, which happens
 * however the primary ends (even SIGKILL).
 */
import type { Logger } from '../../control/base/log';
import { errorMessage } from '../../control/base/errors';
import { zeroCounters, type ProxyCounters } from './port-proxy';
import { AcceptBalance } from './accept-balance';
import type { TcpHandle } from './tcp-handles';
import { NativeTcpProxy } from './native-tcp-proxy';
import { TcpProxy, type LocalRoute } from './tcp-proxy';
import type { FromWorker, ToWorker, WorkerReport } from './worker-protocol';

const REPORT_EVERY_MS = 500;

const send = (m: FromWorker): void => {
  if (process.connected) process.send!(m);
};

/** Log lines go to the primary's logger, so they carry its fields and level. */
function ipcLogger(fields: Record<string, unknown>): Logger {
  const at = (level: 'info' | 'warn' | 'error') => (msg: string, f?: Record<string, unknown>) =>
    send({ op: 'log', level, msg, fields: { ...fields, ...Object.fromEntries(Object.entries(f ?? {}).map(([k, v]) => [k, v instanceof Error ? v.message : v])) } });
  const log: Logger = { debug: () => {}, info: at('info'), warn: at('warn'), error: at('error'), child: (more) => ipcLogger({ ...fields, ...more }) };
  return log;
}

interface Served {
  proxy: TcpProxy | NativeTcpProxy;
  routeCounters: Map<number, ProxyCounters>;
  /** Connections accepted on this listener and handed on to another worker. */
  handedOn: number;
}

const served = new Map<number, Served>();
const log = ipcLogger({ workerPid: process.pid });

function report(): WorkerReport {
  const out: WorkerReport = {};
  for (const [id, s] of served) out[id] = { own: s.proxy.counters, routes: Object.fromEntries(s.routeCounters), handedOn: s.handedOn };
  return out;
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.op) {
    case 'open':
      if (!served.has(m.id)) {
        const id = m.id;
        // Native: a socket of this worker's own in the port's SO_REUSEPORT group, the kernel spreading clients by
        // their address and port. Handles: the primary's one socket, shared through the cluster module.
        const bind = { host: m.host, port: m.port };
        const proxy =
          m.relay === 'native'
            ? new NativeTcpProxy(bind, log, { reusePort: true, spreadOver: m.workers })
            : new TcpProxy(bind, log, { shared: true, handOff: (client) => handOff(id, client) });
        served.set(id, { proxy, routeCounters: new Map(), handedOn: 0 });
      }
      return;
    case 'backends':
      served.get(m.id)?.proxy.setBackends(m.backends, m.strategy);
      return;
    case 'routes': {
      const s = served.get(m.id);
      if (!s) return;
      // A route keeps its counters while its ID stays (the primary gives a new ID when the mesh resets them).
      const counters = new Map(m.routes.map((r) => [r.routeId, s.routeCounters.get(r.routeId) ?? zeroCounters()]));
      s.routeCounters = counters;
      s.proxy.setLocalRoutes(new Map<string, LocalRoute>(m.routes.map((r) => [r.addr, { backends: r.backends, strategy: r.strategy, counters: counters.get(r.routeId)! }])));
      return;
    }
    case 'listen':
      try {
        await served.get(m.id)?.proxy.listen();
        send({ op: 'done', seq: m.seq });
      } catch (e) {
        send({ op: 'done', seq: m.seq, error: errorMessage(e) });
      }
      return;
    case 'close': {
      const s = served.get(m.id);
      served.delete(m.id);
      await s?.proxy.close();
      send({ op: 'done', seq: m.seq });
      return;
    }
    case 'ping':
      send({ op: 'done', seq: m.seq, report: report() });
      return;
  }
}

const balance = new AcceptBalance();

function openHere(): number {
  let n = 0;
  for (const s of served.values()) n += s.proxy.openConnections();
  return n;
}

/**
 * Called for every connection this worker accepts: when it holds more than its share (accept-balance.ts), the
 * connection goes to swarmd, which gives it to the least loaded worker. The handle is closed here once sent (the
 * receiving process has its own descriptor); if it cannot be sent, it is served here after all.
 */
function handOff(id: number, client: TcpHandle): boolean {
  const s = served.get(id);
  const proxy = s?.proxy;
  if (!s || !(proxy instanceof TcpProxy) || !process.connected || balance.keep(openHere())) return false;
  s.handedOn++;
  process.send!({ op: 'handoff', id } satisfies FromWorker, client as never, (err: Error | null) => {
    if (!err) return client.close();
    s.handedOn--;
    proxy.adopt(client);
  });
  return true;
}

// Messages are handled one after another, as sent: a close must not overtake the listen before it. A connection
// handed on, and the load figures, are taken at once: the listener they are for is open already.
let queue: Promise<void> = Promise.resolve();
process.on('message', (m: ToWorker, passed?: unknown) => {
  if (m.op === 'adopt') {
    const client = passed as TcpHandle | undefined;
    if (!client) return;
    const s = served.get(m.id);
    if (s?.proxy instanceof TcpProxy) s.proxy.adopt(client);
    else client.close();
    return;
  }
  if (m.op === 'load') return balance.update(m.workers, m.others);
  queue = queue.then(() => handle(m)).catch((e) => log.error('mesh worker: message failed', { op: m.op, err: errorMessage(e) }));
});

let last = '';
setInterval(() => {
  const r = report();
  const text = JSON.stringify(r);
  if (text === last) return;
  last = text;
  send({ op: 'report', report: r });
}, REPORT_EVERY_MS).unref();

send({ op: 'ready' });
