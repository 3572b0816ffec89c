import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { silentLogger } from '../../control/base/log';
import { FakeClock, systemClock } from '../../control/base/clock';
import { UdpProxy } from '../../mesh/userspace/udp-proxy';

/** A UDP backend on a loopback address that answers each datagram with "NAME:PAYLOAD". */
async function echo(host: string, port: number, name: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(`${name}:${m}`, r.port, r.address));
  await new Promise<void>((r) => s.bind(port, host, () => r()));
  return s;
}

const freeUdpPort = async (host = '127.0.0.1'): Promise<number> => {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
};

/** A UDP client with one source port (so one flow); ask() sends and waits for the next answer. */
async function client(port: number): Promise<{ ask(text: string, resendMs?: number): Promise<string>; close(): void }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return {
    // UDP may lose a datagram (and the proxy drops the one that meets a dead backend), so keep sending until
    // an answer comes, as real UDP clients do.
    ask: (text, resendMs = 100) =>
      new Promise((resolve) => {
        const send = () => s.send(text, port, '127.0.0.1');
        const t = setInterval(send, resendMs);
        const onMessage = (m: Buffer, r: dgram.RemoteInfo) => {
          if (!String(m).endsWith(`:${text}`)) return; // a late answer to an earlier resend
          s.off('message', onMessage);
          clearInterval(t);
          assert.equal(r.port, port, 'the answer comes from the published port');
          resolve(String(m));
        };
        s.on('message', onMessage);
        send();
      }),
    close: () => s.close(),
  };
}

async function withProxy(
  clock: FakeClock | typeof systemClock,
  fn: (proxy: UdpProxy, port: number, backendPort: number) => Promise<void>,
  idleMs?: number,
): Promise<void> {
  const port = await freeUdpPort();
  const backendPort = await freeUdpPort('127.0.0.2');
  const proxy = new UdpProxy({ host: '127.0.0.1', port }, { clock, log: silentLogger, idleMs });
  await proxy.listen();
  try {
    await fn(proxy, port, backendPort);
  } finally {
    await proxy.close();
  }
}

test('UDP datagrams go through the proxy to a backend and the answer comes back from the published port', async () => {
  await withProxy(systemClock, async (proxy, port, bport) => {
    const a = await echo('127.0.0.2', bport, 'a');
    const b = await echo('127.0.0.3', bport, 'b');
    const c1 = await client(port);
    const c2 = await client(port);
    try {
      proxy.setBackends([{ taskId: 'ta', host: '127.0.0.2', port: bport }, { taskId: 'tb', host: '127.0.0.3', port: bport }], 'round-robin');
      // One flow per client: a client stays with its backend, the next client gets the next backend.
      const first = await c1.ask('hi');
      assert.match(first, /^[ab]:hi$/);
      assert.equal(await c1.ask('again'), `${first[0]}:again`);
      const second = await c2.ask('yo');
      assert.notEqual(second[0], first[0]);
      assert.equal(proxy.counters.connectionsTotal, 2);
      assert.equal(proxy.counters.connectionsActive, 2);
      assert.ok(proxy.counters.bytesIn >= 'hi'.length + 'again'.length + 'yo'.length);
      assert.ok(proxy.counters.bytesOut >= 'a:hi'.length + 'a:again'.length + 'b:yo'.length);
    } finally {
      c1.close();
      c2.close();
      a.close();
      b.close();
    }
  });
});

test('a UDP flow ends after its idle timeout and the next datagram starts a new one', async () => {
  const clock = new FakeClock();
  await withProxy(
    clock,
    async (proxy, port, bport) => {
      const a = await echo('127.0.0.2', bport, 'a');
      const c = await client(port);
      try {
        proxy.setBackends([{ taskId: 'ta', host: '127.0.0.2', port: bport }], 'round-robin');
        assert.equal(await c.ask('1'), 'a:1');
        assert.equal(proxy.flowCount, 1);
        clock.advance(9_999);
        assert.equal(proxy.flowCount, 1, 'not idle long enough yet');
        clock.advance(1);
        assert.equal(proxy.flowCount, 0);
        assert.equal(proxy.counters.connectionsActive, 0);
        assert.equal(await c.ask('2'), 'a:2');
        assert.equal(proxy.counters.connectionsTotal, 2);
        // Activity pushes expiry back: a flow used at t+5s lives until t+15s.
        clock.advance(5_000);
        assert.equal(await c.ask('3'), 'a:3');
        clock.advance(9_000);
        assert.equal(proxy.flowCount, 1);
        clock.advance(1_000);
        assert.equal(proxy.flowCount, 0);
      } finally {
        c.close();
        a.close();
      }
    },
    10_000,
  );
});

test('when its backend leaves the set, a UDP flow closes and the next datagram picks a backend that is there', async () => {
  await withProxy(systemClock, async (proxy, port, bport) => {
    const a = await echo('127.0.0.2', bport, 'a');
    const b = await echo('127.0.0.3', bport, 'b');
    const c = await client(port);
    try {
      proxy.setBackends([{ taskId: 'ta', host: '127.0.0.2', port: bport }], 'round-robin');
      assert.equal(await c.ask('x'), 'a:x');
      proxy.setBackends([{ taskId: 'tb', host: '127.0.0.3', port: bport }], 'round-robin');
      assert.equal(proxy.flowCount, 0);
      assert.equal(await c.ask('y'), 'b:y');
      // No backend at all: datagrams are dropped and counted, nothing breaks.
      proxy.setBackends([], 'round-robin');
      const lone = dgram.createSocket('udp4');
      await new Promise<void>((r) => lone.send('z', port, '127.0.0.1', () => r()));
      while (proxy.counters.rejected === 0) await new Promise((r) => setTimeout(r, 10));
      lone.close();
    } finally {
      c.close();
      a.close();
      b.close();
    }
  });
});

test('a dead UDP backend (ICMP port unreachable) ends the flow without crashing; the client is re-routed', async () => {
  await withProxy(systemClock, async (proxy, port, bport) => {
    const b = await echo('127.0.0.3', bport, 'b');
    const c = await client(port);
    try {
      // 127.0.0.4 has nothing on the port: the kernel answers ECONNREFUSED to the flow's connected socket.
      proxy.setBackends([{ taskId: 'dead', host: '127.0.0.4', port: bport }, { taskId: 'tb', host: '127.0.0.3', port: bport }], 'round-robin');
      assert.equal(await c.ask('ping', 50), 'b:ping');
      assert.ok(proxy.counters.backendErrors >= 1);
      assert.equal(proxy.counters.connectionsActive, 1);
    } finally {
      c.close();
      b.close();
    }
  });
});

test('least-connections gives a new UDP flow to the backend with the fewest flows', async () => {
  await withProxy(systemClock, async (proxy, port, bport) => {
    const a = await echo('127.0.0.2', bport, 'a');
    const b = await echo('127.0.0.3', bport, 'b');
    const clients = await Promise.all([client(port), client(port), client(port), client(port)]);
    try {
      proxy.setBackends([{ taskId: 'ta', host: '127.0.0.2', port: bport }], 'least-connections');
      assert.equal(await clients[0].ask('1'), 'a:1');
      assert.equal(await clients[1].ask('2'), 'a:2');
      // b joins with no flows: it takes the next two, then the load is even.
      proxy.setBackends([{ taskId: 'ta', host: '127.0.0.2', port: bport }, { taskId: 'tb', host: '127.0.0.3', port: bport }], 'least-connections');
      assert.equal(await clients[2].ask('3'), 'b:3');
      assert.equal(await clients[3].ask('4'), 'b:4');
    } finally {
      for (const c of clients) c.close();
      a.close();
      b.close();
    }
  });
});

test('a UDP VIP socket and a wildcard socket on the same port coexist; each datagram reaches the most specific', async () => {
  const port = await freeUdpPort();
  const bport = await freeUdpPort('127.0.0.2');
  const a = await echo('127.0.0.2', bport, 'a');
  const b = await echo('127.0.0.3', bport, 'b');
  const wildcard = new UdpProxy({ host: '0.0.0.0', port }, { clock: systemClock, log: silentLogger });
  const vip = new UdpProxy({ host: '127.0.0.10', port }, { clock: systemClock, log: silentLogger });
  const c = dgram.createSocket('udp4');
  try {
    wildcard.setBackends([{ taskId: 'tb', host: '127.0.0.3', port: bport }], 'round-robin');
    vip.setBackends([{ taskId: 'ta', host: '127.0.0.2', port: bport }], 'round-robin');
    await wildcard.listen();
    await vip.listen();
    const ask = (host: string) =>
      new Promise<string>((resolve) => {
        c.once('message', (m) => resolve(String(m)));
        c.send('q', port, host);
      });
    assert.equal(await ask('127.0.0.10'), 'a:q');
    assert.equal(await ask('127.0.0.1'), 'b:q');
    // Someone else (without SO_REUSEADDR) still cannot take the port from us.
    const intruder = dgram.createSocket('udp4');
    await assert.rejects(new Promise<void>((resolve, reject) => {
      intruder.once('error', reject);
      intruder.bind(port, '127.0.0.10', () => resolve());
    }), /EADDRINUSE/);
    intruder.close();
  } finally {
    c.close();
    await wildcard.close();
    await vip.close();
    a.close();
    b.close();
  }
});
