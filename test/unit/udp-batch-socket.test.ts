// The resolver's batch UDP socket (dns/udp-batch-socket.ts over dns/native/udp-batch.c) on real loopback sockets:
// every datagram of a batch answered to its own sender, answers given later, datagrams too long for a slot,
// IPv6 and v4-mapped sources, the SO_REUSEPORT group (exclusive start, readers joining, clients spread), close,
// and the refusal, with the fix, when the native part is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { BatchUdpSocket, udpBatchNative, type OnDatagram } from '../../dns/udp-batch-socket';

const HOST = '127.0.0.51';

function requireNative(): void {
  const native = udpBatchNative();
  assert.ok(!(native instanceof Error), native instanceof Error ? native.message : '');
}

/** `count` client sockets on `from`, each sending `payload(i)` at once; resolves with what each got back ('' if nothing within 1 s). */
async function clients(port: number, count: number, payload: (i: number) => Buffer, opts: { to?: string; from?: string; type?: 'udp4' | 'udp6' } = {}): Promise<string[]> {
  const out: string[] = new Array(count).fill('');
  const socks: dgram.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const s = dgram.createSocket(opts.type ?? 'udp4');
    socks.push(s);
    await new Promise<void>((r) => s.bind(0, opts.from ?? '127.0.0.1', () => r()));
  }
  const done = Promise.all(
    socks.map(
      (s, i) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 1000);
          s.once('message', (m) => {
            out[i] = m.toString();
            clearTimeout(t);
            resolve();
          });
        }),
    ),
  );
  // All sent in one turn of the loop: they queue up and the server reads them in batches.
  socks.forEach((s, i) => s.send(payload(i), port, opts.to ?? HOST));
  await done;
  for (const s of socks) s.close();
  return out;
}

const echo: OnDatagram = (msg, source, port, reply) => reply(Buffer.from(`${msg.toString()} from ${source}:${port}`));

test('a burst from 200 clients is read in batches and every client gets the answer to its own datagram', async () => {
  requireNative();
  const seen: number[] = [];
  let batchesBefore = 0;
  const sock = new BatchUdpSocket({ address: HOST, port: 0, mode: 'exclusive', onDatagram: (msg, source, port, reply) => {
    seen.push(msg.length);
    echo(msg, source, port, reply);
  } });
  try {
    batchesBefore = sock.stats.batches;
    const got = await clients(sock.port, 200, (i) => Buffer.from(`q${i}-${'x'.repeat(i % 50)}`));
    got.forEach((g, i) => assert.match(g, new RegExp(`^q${i}-x{${i % 50}} from 127\\.0\\.0\\.1:\\d+$`), `client ${i}`));
    assert.equal(seen.length, 200);
    const batches = sock.stats.batches - batchesBefore;
    assert.ok(batches < 200, `200 datagrams in ${batches} batches: more than one per system call`);
    assert.equal(sock.stats.datagrams, 200);
  } finally {
    sock.close();
  }
});

test('an answer given later (a forwarded name) still reaches its client; a datagram longer than a slot, or an answer the kernel refuses, is counted', async () => {
  requireNative();
  let oversized = 0;
  let failed = 0;
  const sock = new BatchUdpSocket({
    address: HOST,
    port: 0,
    mode: 'exclusive',
    slotSize: 1024,
    onOversized: () => oversized++,
    onSendFailed: (n) => (failed += n),
    onDatagram: (msg, source, port, reply) => {
      const text = msg.toString(); // the view is only valid now: take what is needed
      if (text.startsWith('later')) setTimeout(() => reply(Buffer.from(`${text} answered`)), 20);
      else if (text.startsWith('none')) reply(undefined);
      else echo(msg, source, port, reply);
    },
  });
  try {
    const got = await clients(sock.port, 30, (i) => Buffer.from(i % 3 === 0 ? `later${i}` : i % 3 === 1 ? `now${i}` : `none${i}`));
    got.forEach((g, i) => {
      if (i % 3 === 0) assert.equal(g, `later${i} answered`);
      else if (i % 3 === 1) assert.match(g, new RegExp(`^now${i} from `));
      else assert.equal(g, '', 'no reply means nothing is sent');
    });
    const [big, after] = await clients(sock.port, 2, (i) => (i === 0 ? Buffer.alloc(1500, 1) : Buffer.from('small')));
    assert.equal(big, '');
    assert.match(after, /^small from /);
    assert.equal(oversized, 1);
    // Broadcast without SO_BROADCAST: the kernel refuses (EACCES).
    assert.equal(sock.send(Buffer.from('x'), '255.255.255.255', 9), false);
    assert.equal(failed, 1);
  } finally {
    sock.close();
  }
});

test('IPv6: a v6 client is named as net names it; on a dual-stack socket a v4 client is its plain v4 address', async () => {
  requireNative();
  const v6 = new BatchUdpSocket({ address: '::1', port: 0, mode: 'exclusive', onDatagram: echo });
  const dual = new BatchUdpSocket({ address: '::', port: 0, mode: 'exclusive', onDatagram: echo });
  try {
    const [a] = await clients(v6.port, 1, () => Buffer.from('six'), { to: '::1', from: '::1', type: 'udp6' });
    assert.match(a, /^six from ::1:\d+$/);
    const [b] = await clients(dual.port, 1, () => Buffer.from('four'), { to: '127.0.0.1' });
    assert.match(b, /^four from 127\.0\.0\.1:\d+$/);
  } finally {
    v6.close();
    dual.close();
  }
});

test('exclusive fails like a plain bind on a port someone holds; readers joining the group share the clients', async () => {
  requireNative();
  const holder = dgram.createSocket('udp4');
  await new Promise<void>((r) => holder.bind(0, HOST, () => r()));
  assert.throws(() => new BatchUdpSocket({ address: HOST, port: holder.address().port, mode: 'exclusive', onDatagram: echo }), { code: 'EADDRINUSE' });
  holder.close();

  const answeredBy: string[] = [];
  const reader = (name: string): OnDatagram => (msg, source, port, reply) => {
    answeredBy.push(name);
    reply(Buffer.from(name));
  };
  const first = new BatchUdpSocket({ address: HOST, port: 0, mode: 'exclusive', onDatagram: reader('first') });
  const second = new BatchUdpSocket({ address: HOST, port: first.port, mode: 'join', onDatagram: reader('second') });
  try {
    assert.throws(() => new BatchUdpSocket({ address: HOST, port: first.port, mode: 'exclusive', onDatagram: echo }), { code: 'EADDRINUSE' });
    const got = await clients(first.port, 40, () => Buffer.from('who'));
    assert.ok(got.every((g) => g === 'first' || g === 'second'), got.join(','));
    assert.ok(got.includes('first') && got.includes('second'), `40 clients over two sockets: ${got.join(',')}`);
    second.close();
    const after = await clients(first.port, 10, () => Buffer.from('who'));
    assert.deepEqual(new Set(after), new Set(['first']), 'a socket that leaves the group takes no more clients');
  } finally {
    first.close();
    second.close();
  }
});

test('close() stops delivery at once and frees the port; a handler that throws does not lose the rest of its batch', async () => {
  requireNative();
  let delivered = 0;
  const sock = new BatchUdpSocket({ address: HOST, port: 0, mode: 'exclusive', onDatagram: (msg, source, port, reply) => {
    delivered++;
    if (msg.toString() === 'boom') throw new Error('handler bug');
    echo(msg, source, port, reply);
  } });
  const port = sock.port;
  const got = await clients(port, 20, (i) => Buffer.from(i % 2 ? 'boom' : `ok${i}`));
  got.forEach((g, i) => (i % 2 ? assert.equal(g, '') : assert.match(g, new RegExp(`^ok${i} from `))));
  sock.close();
  sock.close(); // idempotent
  assert.equal(sock.send(Buffer.from('x'), '127.0.0.1', 9), false);
  delivered = 0;
  const again = new BatchUdpSocket({ address: HOST, port, mode: 'exclusive', onDatagram: echo });
  try {
    const [g] = await clients(port, 1, () => Buffer.from('new'));
    assert.match(g, /^new from /);
    assert.equal(delivered, 0, 'the closed socket saw nothing');
  } finally {
    again.close();
  }
});

test('without the native part the socket refuses, naming the file and how to build it', () => {
  const missing = udpBatchNative('/nonexistent/udp-batch.node');
  assert.ok(missing instanceof Error);
  assert.match(missing.message, /not built .*\/nonexistent\/udp-batch\.node.*apt-get install -y gcc libc6-dev.*npm run build/);
  assert.throws(() => new BatchUdpSocket({ address: HOST, port: 0, mode: 'exclusive', onDatagram: echo, nativePath: '/nonexistent/udp-batch.node' }), /npm run build/);
});

test('a resolver whose native part cannot load falls back to dgram and says why; asked for batch it does not start', () => {
  // A child where loading any native module fails, as on a machine where the build had no compiler.
  const script = `
    process.dlopen = () => { throw new Error('simulated: not built'); };
    const { DnsResolver } = require('./dist/dns/dns-resolver');
    const { systemClock } = require('./dist/control/base/clock');
    const warnings = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (msg, f) => warnings.push(msg + ' ' + (f && f.reason)), child() { return logger; } };
    const make = (udpIo) => new DnsResolver({ address: '127.0.0.52', port: 0, clock: systemClock, logger, upstreams: [], searchDomains: [], udpIo });
    (async () => {
      const d = make(undefined);
      await d.start();
      const io = d.udpIo;
      await d.stop();
      let refused = '';
      await make('batch').start().catch((e) => (refused = e.message));
      console.log(JSON.stringify({ io, warnings, refused }));
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: process.cwd() });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { io: string; warnings: string[]; refused: string };
  assert.equal(out.io, 'dgram');
  assert.ok(out.warnings.some((w) => /dgram.*not built.*apt-get install -y gcc/.test(w)), out.warnings.join('\n'));
  assert.match(out.refused, /not built.*npm run build/);
});
