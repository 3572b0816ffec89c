// Answerer.fastForward(): for plain A/AAAA questions the fast path found not ours, the general path's "forward"
// without decoding — it must say exactly what general() says (question, limit, EDNS), say nothing where general()
// answers locally (SRV names, names of other networks, search-domain forms of ours), and stop saying it once the
// name becomes ours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Answerer } from '../../dns/answer';
import { Records } from '../../dns/records';
import { fixtureTable, query, seeded } from '../../dns/test-kit';

const SOURCES = ['10.0.1.5', '10.0.2.5', '192.0.2.9']; // a task on front, a task on back, a host address
const NAMES = ['example.com', 'Example.COM', 'web', 'WEB', 'tasks.web', 'www', 'db', 'web.front', 'web.corp.example', '_http._tcp.web', 'nothere', 'api', 'six', 'x.y.z', 'db.1.ccc'];

test('fastForward says "forward" exactly when general() does, with the same question, limit and EDNS', () => {
  const a = new Answerer(Records.build(fixtureTable()), { random: seeded(3), searchDomains: ['corp.example'] });
  let forwarded = 0;
  for (const source of SOURCES)
    for (const name of NAMES)
      for (const type of ['A', 'AAAA'] as const)
        for (const edns of [undefined, 1232, 300, 8000])
          for (const maxSize of [512, 65535]) {
            const q = query(name, type, { edns });
            a.fast(q, source, maxSize); // makes the memo entry fastForward reads
            const fast = a.fastForward(q, source, maxSize);
            const general = a.general(q, source, maxSize);
            const what = `${name} ${type} edns=${edns} max=${maxSize} from ${source}`;
            if (general.kind !== 'forward') {
              assert.equal(fast, undefined, `${what}: answered locally, so no fast forward`);
              continue;
            }
            assert.ok(fast, `${what}: forwarded by general(), so fastForward knows it`);
            assert.deepEqual(fast, general, what);
            forwarded++;
          }
  assert.ok(forwarded > 100, `exercised ${forwarded} forwarded questions`);
});

test('a name that becomes ours is no longer fast-forwarded', () => {
  const table = fixtureTable();
  const a = new Answerer(Records.build(table), { random: seeded(4) });
  const q = query('cache');
  assert.equal(a.fast(q, '10.0.1.5', 512), undefined);
  assert.ok(a.fastForward(q, '10.0.1.5', 512));
  a.update({ ...table, services: [...table.services, { serviceId: 's-cache', serviceName: 'cache', mode: 'vip', vips: { n1: '10.0.1.9' }, aliases: {}, ports: [], backends: [] }] });
  assert.ok(a.fast(q, '10.0.1.5', 512), 'answered locally now');
  assert.equal(a.fastForward(q, '10.0.1.5', 512), undefined);
});
