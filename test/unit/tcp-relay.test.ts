import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { silentLogger } from '../../control/base/log';
import { chooseTcpRelay, NativeTcpProxy, type TcpRelayKind } from '../../mesh/userspace/native-tcp-proxy';
import { TcpProxy } from '../../mesh/userspace/tcp-proxy';
import { RELAY_BUFFER_BYTES } from '../../mesh/userspace/relay-pump';
import { fetchName, freePort } from '../fakes/loopback';
import { spawn } from 'node:child_process';

const sha = (b: Buffer | Buffer[]): string => {
  const h = createHash('sha256');
  for (const x of Array.isArray(b) ? b : [b]) h.update(x);
  return h.digest('hex');
};

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 2));
}

/**
 * Every relay test runs against both relays: the native one (mesh/native/tcp-relay.c; without its build these
 * fail, saying how to build it) and Node's TCP handles (the fallback).
 */
const RELAYS: readonly TcpRelayKind[] = ['native', 'handles'];
type Proxy = TcpProxy | NativeTcpProxy;

function relayTest(name: string, opts: { timeout?: number }, fn: (kind: TcpRelayKind) => Promise<void>): void {
  for (const kind of RELAYS) test(`${name} [${kind}]`, opts, () => fn(kind));
}

function makeProxy(kind: TcpRelayKind, bind: { host: string; port: number }, opts: { connectTimeoutMs?: number } = {}): Proxy {
  return kind === 'native' ? new NativeTcpProxy(bind, silentLogger, opts) : new TcpProxy(bind, silentLogger, opts);
}

/** A proxy on 127.0.0.1 to one backend server on 127.0.0.2; closes both after fn, even when fn fails. */
async function withProxy(kind: TcpRelayKind, onBackend: (s: net.Socket) => void, fn: (port: number, proxy: Proxy) => Promise<void>): Promise<void> {
  const target = await freePort();
  const server = net.createServer({ allowHalfOpen: true }, onBackend);
  await new Promise<void>((r) => server.listen(target, '127.0.0.2', () => r()));
  const proxy = makeProxy(kind, { host: '127.0.0.1', port: await freePort() });
  proxy.setBackends([{ taskId: 't1', host: '127.0.0.2', port: target }]);
  try {
    await proxy.listen();
    await fn(proxy.bind.port, proxy);
  } finally {
    await proxy.close();
    await new Promise((r) => server.close(r));
  }
}

/** Sends `data` in 1 MiB writes honouring backpressure, then ends; hashes everything it receives. */
function sendAndHash(s: net.Socket, data: Buffer): Promise<string> {
  const got: Buffer[] = [];
  s.on('data', (d) => got.push(d));
  const received = new Promise<string>((resolve, reject) => {
    s.on('end', () => resolve(sha(got)));
    s.on('error', reject);
  });
  void (async () => {
    for (let off = 0; off < data.length; off += 1 << 20) {
      if (!s.write(data.subarray(off, off + (1 << 20)))) await new Promise((r) => s.once('drain', r));
    }
    s.end();
  })();
  return received;
}

relayTest('50 MB each way at once arrive byte-identical, and the counters hold exactly what crossed', { timeout: 120_000 }, async (kind) => {
  const up = randomBytes(50 << 20);
  const down = randomBytes(50 << 20);
  let backendGot: Promise<string> | undefined;
  await withProxy(
    kind,
    (s) => (backendGot = sendAndHash(s, down)),
    async (port, proxy) => {
      const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      const clientGot = await sendAndHash(c, up);
      assert.equal(clientGot, sha(down), 'the client received other bytes than the backend sent');
      assert.equal(await backendGot, sha(up), 'the backend received other bytes than the client sent');
      await until(() => proxy.counters.connectionsActive === 0);
      assert.equal(proxy.counters.bytesIn, up.length);
      assert.equal(proxy.counters.bytesOut, down.length);
      assert.equal(proxy.openSockets(), 0);
    },
  );
});

relayTest('a backend that answers and ends first still gets everything the client sends after, then the end', { timeout: 60_000 }, async (kind) => {
  // The backend's end of stream comes first (its FIN reaches the client while the client is still sending); the
  // client's end then closes both connections at once, which must not cut what is still on its way to the backend.
  const body = randomBytes(8 << 20);
  let backendGot: Promise<string> | undefined;
  await withProxy(
    kind,
    (s) => {
      s.end('answer');
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      backendGot = new Promise((resolve, reject) => {
        s.on('end', () => resolve(sha(got)));
        s.on('error', reject);
      });
    },
    async (port, proxy) => {
      const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      const answer = new Promise<string>((resolve) => {
        let text = '';
        c.on('data', (d) => (text += d));
        c.on('end', () => resolve(text));
      });
      await new Promise((r) => c.once('connect', r));
      assert.equal(await answer, 'answer'); // the backend has ended its side
      for (let off = 0; off < body.length; off += 1 << 20) {
        if (!c.write(body.subarray(off, off + (1 << 20)))) await new Promise((r) => c.once('drain', r));
      }
      c.end();
      assert.equal(await backendGot, sha(body), 'the backend received other bytes than the client sent after its end');
      await until(() => proxy.counters.connectionsActive === 0);
      assert.equal(proxy.counters.bytesIn, body.length);
      assert.equal(proxy.openSockets(), 0);
    },
  );
});

relayTest('a slow reader: the relay holds at most one buffer per direction, pauses the backend, and corrupts nothing', { timeout: 120_000 }, async (kind) => {
  const down = randomBytes(16 << 20);
  let backend: net.Socket | undefined;
  await withProxy(
    kind,
    (s) => {
      // One big write: the backend's own socket queues what the proxy does not take.
      backend = s;
      s.on('error', () => undefined);
      s.end(down);
    },
    async (port, proxy) => {
      let maxQueued = 0;
      const sample = setInterval(() => (maxQueued = Math.max(maxQueued, proxy.queuedBytes())), 1);
      try {
        const c = net.connect({ port, host: '127.0.0.1' });
        c.pause();
        // Nothing is read until the proxy itself holds bytes it could not pass on: the kernel buffers towards
        // the client are full, so from here on every byte has to wait for the reader.
        await until(() => proxy.queuedBytes() > 0);
        // 16 MB is far more than the kernel buffers on the way hold: the backend must still be waiting.
        assert.ok(backend && backend.writableLength > 0, 'the backend could hand over everything: the test did not exercise backpressure');
        const got: Buffer[] = [];
        await new Promise<void>((resolve, reject) => {
          c.on('data', (d) => {
            got.push(d);
            maxQueued = Math.max(maxQueued, proxy.queuedBytes());
            c.pause(); // a slow reader: one chunk, then a pause
            setTimeout(() => c.resume(), 1);
          });
          c.on('end', resolve);
          c.on('error', reject);
          c.resume();
        });
        assert.equal(sha(got), sha(down), 'the slow reader received other bytes than the backend sent');
        assert.ok(maxQueued > 0);
        assert.ok(maxQueued <= RELAY_BUFFER_BYTES, `the relay held ${maxQueued} bytes, more than one ${RELAY_BUFFER_BYTES}-byte buffer`);
      } finally {
        clearInterval(sample);
      }
    },
  );
});

relayTest('a backend that sends small pieces to a slow reader: a short chunk left pending does not stall the relay', { timeout: 120_000 }, async (kind) => {
  // Short reads are what the relay sees under load: a chunk smaller than the writer's high-water mark that the
  // kernel takes only in part leaves write() returning true, so no 'drain' follows it.
  const piece = 3000;
  const down = randomBytes(piece * 2000);
  await withProxy(
    kind,
    (s) => {
      s.on('error', () => undefined);
      let off = 0;
      const drip = (): void => {
        while (off < down.length) {
          const ok = s.write(down.subarray(off, off + piece));
          off += piece;
          if (!ok) return void s.once('drain', drip);
          if (off % (piece * 4) === 0) return void setImmediate(drip); // let the proxy read short chunks
        }
        s.end();
      };
      drip();
    },
    async (port, proxy) => {
      const c = net.connect({ port, host: '127.0.0.1' });
      c.pause();
      await until(() => proxy.queuedBytes() > 0);
      const got: Buffer[] = [];
      await new Promise<void>((resolve, reject) => {
        c.on('data', (d) => {
          got.push(d);
          c.pause();
          setTimeout(() => c.resume(), 1);
        });
        c.on('end', resolve);
        c.on('error', reject);
        c.resume();
      });
      assert.equal(sha(got), sha(down));
    },
  );
});

relayTest('a client that resets mid-transfer: the backend connection is closed too, nothing stays open, counters settle', {}, async (kind) => {
  let backendClosed = false;
  await withProxy(
    kind,
    (s) => {
      s.on('error', () => undefined);
      s.on('close', () => (backendClosed = true));
      s.write(randomBytes(8 << 20)); // more than the client will read
    },
    async (port, proxy) => {
      const c = net.connect({ port, host: '127.0.0.1' });
      await new Promise((r) => c.once('data', r));
      c.resetAndDestroy();
      await until(() => backendClosed && proxy.counters.connectionsActive === 0);
      assert.equal(proxy.openSockets(), 0);
      assert.equal(proxy.counters.connectionsTotal, 1);
    },
  );
});

relayTest('a backend that resets mid-transfer: the client sees its connection end, nothing stays open', {}, async (kind) => {
  await withProxy(
    kind,
    (s) => {
      s.write(randomBytes(1 << 20), () => s.resetAndDestroy());
    },
    async (port, proxy) => {
      const c = net.connect({ port, host: '127.0.0.1' });
      c.on('data', () => undefined);
      await new Promise<void>((r) => c.once('close', () => r()));
      await until(() => proxy.counters.connectionsActive === 0);
      assert.equal(proxy.openSockets(), 0);
    },
  );
});

relayTest('a backend that never accepts is given up after the connect timeout and the next one serves the client', { timeout: 20_000 }, async (kind) => {
  // A listener whose process never runs its event loop again: once its accept queue is full (backlog 1: two
  // connections; Node takes a backlog of 0 for its default of 511) the kernel drops further SYNs, so a connect
  // to it neither succeeds nor fails.
  const stuckPort = await freePort();
  const listenThenHang = `require('net').createServer().listen({ port: ${stuckPort}, host: '127.0.0.1', backlog: 1 }, () => { process.send('ready', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)); })`;
  const stuck = spawn(process.execPath, ['-e', listenThenHang], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const fillers: net.Socket[] = [];
  const good = net.createServer((s) => s.end('good'));
  const proxy = makeProxy(kind, { host: '127.0.0.1', port: await freePort() }, { connectTimeoutMs: 300 });
  try {
    await new Promise((r) => stuck.once('message', r));
    for (let i = 0; i < 3; i++) fillers.push(net.connect(stuckPort, '127.0.0.1').on('error', () => undefined));
    await new Promise((r) => setTimeout(r, 100)); // the queue is full; later SYNs are dropped
    const goodPort = await freePort();
    await new Promise<void>((r) => good.listen(goodPort, '127.0.0.1', () => r()));
    proxy.setBackends([
      { taskId: 'stuck', host: '127.0.0.1', port: stuckPort },
      { taskId: 'good', host: '127.0.0.1', port: goodPort },
    ]);
    await proxy.listen();
    const t0 = Date.now();
    assert.equal(await fetchName(proxy.bind.port), 'good');
    assert.ok(Date.now() - t0 >= 250, 'the stuck backend was waited for up to the timeout');
    assert.equal(proxy.counters.backendErrors, 1);
    await until(() => proxy.counters.connectionsActive === 0);
    assert.equal(proxy.openSockets(), 0);
  } finally {
    for (const f of fillers) f.destroy();
    stuck.kill('SIGKILL');
    await proxy.close();
    await new Promise((r) => good.close(r));
  }
});

test('on a Node without the TCP handle bindings the proxy refuses at construction, naming the version and --mesh iptables', async () => {
  // A child whose process.binding throws, as a Node that dropped it would; then the proxy is made there.
  const script = `process.binding = () => { throw new Error('No such module: tcp_wrap'); };
    const { TcpProxy } = require(${JSON.stringify(require.resolve('../../mesh/userspace/tcp-proxy'))});
    try { new TcpProxy({ host: '127.0.0.1', port: 1 }, { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } }); console.log('made'); }
    catch (e) { console.log(e.message); }`;
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('error', reject);
    child.on('close', () => resolve(text.trim()));
  });
  assert.match(out, /needs Node's TCP handle bindings/);
  assert.ok(out.includes(process.version), out);
  assert.match(out, /--mesh iptables/);
  assert.match(out, /No such module: tcp_wrap/);
});

test('without the native build the relay refuses naming the fix, and the mesh falls back to Node\'s handles saying so', () => {
  const missing = '/nonexistent/tcp-relay.node';
  assert.throws(() => new NativeTcpProxy({ host: '127.0.0.1', port: 1 }, silentLogger, { nativePath: missing }), /not built .*apt-get install -y gcc libc6-dev.*npm run build/);
  const warnings: string[] = [];
  const log = { ...silentLogger, warn: (msg: string) => void warnings.push(msg) };
  assert.equal(chooseTcpRelay(undefined, log, missing), 'handles');
  assert.match(warnings.join('\n'), /relaying TCP through Node.*npm run build/);
  assert.throws(() => chooseTcpRelay('native', log, missing), /not built/);
  assert.equal(chooseTcpRelay('handles', log, missing), 'handles');
  assert.equal(chooseTcpRelay(undefined, log), 'native', 'this build has the native relay (npm run build with gcc)');
});

test('[native] out of file descriptors: accepting pauses instead of spinning, is logged, and the queued clients are served once descriptors are free', { timeout: 30_000 }, async () => {
  // A relay in a child limited to 64 descriptors (soft and hard, so Node cannot raise it), which then takes every
  // free descriptor itself (opening /dev/null) until told to let them go; the backend is here.
  const backend = net.createServer((s) => s.end('ok'));
  const backendPort = await freePort();
  await new Promise<void>((r) => backend.listen(backendPort, '127.0.0.1', () => r()));
  const script = `const fs = require('fs');
    const { NativeTcpProxy } = require(${JSON.stringify(require.resolve('../../mesh/userspace/native-tcp-proxy'))});
    const log = { debug() {}, info() {}, warn() {}, error: (msg, f) => console.log(msg, f.err), child() { return log; } };
    const p = new NativeTcpProxy({ host: '127.0.0.1', port: 0 }, log);
    p.setBackends([{ taskId: 't', host: '127.0.0.1', port: ${backendPort} }]);
    const hoard = [];
    p.listen().then(() => {
      for (;;) { try { hoard.push(fs.openSync('/dev/null', 'r')); } catch { break; } }
      process.send(p.localPort());
    });
    process.on('message', () => { for (const fd of hoard) fs.closeSync(fd); hoard.length = 0; });`;
  const child = spawn('bash', ['-c', 'ulimit -n 64 && exec "$0" -e "$1"', process.execPath, script], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve(m as number));
      child.once('exit', (code) => reject(new Error(`relay child exited (${code}): ${out}`)));
    });
    const answers = Array.from({ length: 3 }, () => fetchName(port));
    await until(() => out.includes('EMFILE'));
    await new Promise((r) => setTimeout(r, 500));
    const lines = out.trim().split('\n');
    assert.ok(lines.every((l) => l === 'accept failed EMFILE'), out);
    assert.ok(lines.length <= 20, `${lines.length} accept failures logged in about half a second: the listener spins`);
    child.send('free');
    assert.deepEqual(await Promise.all(answers), ['ok', 'ok', 'ok']);
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => backend.close(r));
  }
});
