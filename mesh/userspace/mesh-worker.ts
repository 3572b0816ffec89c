/**
 * A mesh worker process: serves the userspace TCP listeners it is told to (worker-protocol.ts), sharing each
 * listening socket with the other workers through the cluster module (the primary binds, every worker accepts
 * on the same socket, the kernel hands each connection to one of them). It keeps no state of its own beyond
 * what the primary sent, so a restarted worker is rebuilt by replaying the primary's state.
 *
 * It dies with swarmd: the cluster module exits a worker whose IPC channel to the primary closes, which happens
 * however the primary ends (even SIGKILL).
 */
import type { Logger } from '../../control/base/log';
import { errorMessage } from '../../control/base/errors';
import { zeroCounters, type ProxyCounters } from './port-proxy';
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
  proxy: TcpProxy;
  routeCounters: Map<number, ProxyCounters>;
}

const served = new Map<number, Served>();
const log = ipcLogger({ workerPid: process.pid });

function report(): WorkerReport {
  const out: WorkerReport = {};
  for (const [id, s] of served) out[id] = { own: s.proxy.counters, routes: Object.fromEntries(s.routeCounters) };
  return out;
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.op) {
    case 'open':
      if (!served.has(m.id)) served.set(m.id, { proxy: new TcpProxy({ host: m.host, port: m.port }, log, { shared: true }), routeCounters: new Map() });
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

// Messages are handled one after another, as sent: a close must not overtake the listen before it.
let queue: Promise<void> = Promise.resolve();
process.on('message', (m: ToWorker) => {
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
