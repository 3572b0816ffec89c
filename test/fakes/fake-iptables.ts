/**
 * A fake iptables for unit tests, in kube-proxy's manner: an Exec that understands `iptables-restore --noflush`,
 * `iptables-save [-c] -t`, `iptables -t T -S CHAIN -v` (one chain with counters), `sysctl -w` and `conntrack -D` (optionally behind `ip netns exec NS`), keeps nat and filter
 * state, and refuses what the kernel refuses — a jump to an unknown chain, a chain declared twice in one
 * restore (stricter than iptables-nft, which allows it), a name over 28 characters, an unknown option, a target
 * in the wrong table, `-X` of a chain still referenced — failing the whole table with "line N failed" as the real
 * one does. Its tracer walks a packet through the chains and returns every outcome with its probability
 * (statistic matches branch), so tests assert behaviour ("TCP to 192.0.2.10:8080 from 203.0.113.5 → DNAT to
 * 10.0.0.7:80") rather than rule text.
 */
import { ExecError, type Exec, type ExecResult } from '../../control/base/exec';

interface Rule {
  text: string;
  /** The kernel's packet and byte counters (`iptables-save -c`), set by tests through count(). */
  packets?: number;
  bytes?: number;
  opts: Map<string, { value: string; neg: boolean }>;
  target: string;
}
type Tables = Map<string, Map<string, Rule[]>>;

const BUILTIN: Record<string, string[]> = { nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'], filter: ['INPUT', 'FORWARD', 'OUTPUT'] };
const TARGETS: Record<string, string[]> = { nat: ['DNAT', 'SNAT', 'MASQUERADE', 'MARK', 'CONNMARK', 'RETURN', 'ACCEPT'], filter: ['ACCEPT', 'DROP', 'REJECT', 'RETURN', 'MARK', 'CONNMARK', 'LOG'] };
const MATCHES = new Set(['tcp', 'udp', 'sctp', 'statistic', 'addrtype', 'conntrack', 'comment', 'mark', 'connmark']);
const OPTIONS = new Set(['-p', '-s', '-d', '-i', '-o', '-m', '--dport', '--mode', '--probability', '--dst-type', '--src-type', '--ctstate', '--ctproto', '--ctorigdst', '--ctorigdstport', '--ctdir', '--comment', '--mark', '--to-destination', '--reject-with', '--set-xmark']);
const PROTO_NUMBERS: Record<string, string> = { tcp: '6', udp: '17', sctp: '132' };

export interface Packet {
  proto: 'tcp' | 'udp';
  src: string;
  dst: string;
  dport: number;
  /** Where it enters: 'local' (a process on the node: OUTPUT), or an interface name (PREROUTING). */
  from: string;
}

export interface Outcome {
  probability: number;
  verdict: 'delivered' | 'rejected' | 'dropped';
  /** Where it went after NAT: 'ip:port'. */
  to: string;
  dnat: boolean;
  masqueraded: boolean;
  /** The comment of the rule that rejected it (our "why"). */
  reason?: string;
  text: string;
}

export interface FakeIptablesOptions {
  /** The node's own addresses (addrtype LOCAL). */
  localAddrs: string[];
  /** Connected subnets and their interface; anything else leaves by 'eth0'. */
  routes: { subnet: string; dev: string }[];
}

export class FakeIptables {
  tables: Tables = new Map(Object.entries(BUILTIN).map(([t, cs]) => [t, new Map(cs.map((c) => [c, [] as Rule[]]))]));
  readonly policies = new Map<string, string>();
  readonly sysctls = new Map<string, string>();
  readonly conntrackDeletes: string[][] = [];
  readonly restores: string[] = [];
  /** How many times iptables-save or `iptables -S` ran (to test that readers cache). */
  saves = 0;
  readonly namespaces = new Set<string>();
  /** The next restore fails with this stderr (to test retries). */
  failNextRestore?: string;

  constructor(private readonly net: FakeIptablesOptions) {}

  readonly exec: Exec = async (argv, opts = {}) => {
    let args = argv;
    if (args[0] === 'ip' && args[1] === 'netns' && args[2] === 'exec') {
      this.namespaces.add(args[3]);
      args = args.slice(4);
    }
    const ok = (stdout = '', stderr = ''): ExecResult => ({ stdout, stderr });
    switch (args[0]) {
      case 'iptables-restore':
        if (!args.includes('--noflush')) throw new ExecError(argv, 2, 'fake: a restore without --noflush would flush other owners');
        if (this.failNextRestore) {
          const msg = this.failNextRestore;
          this.failNextRestore = undefined;
          throw new ExecError(argv, 1, msg);
        }
        this.restores.push(opts.input ?? '');
        this.restore(argv, opts.input ?? '');
        return ok();
      case 'iptables-save':
        this.saves++;
        return ok(this.save(args[args.indexOf('-t') + 1], args.includes('-c')));
      case 'iptables': {
        // Only the listing the mesh's counter reader uses: `iptables [-w N] -t TABLE -S CHAIN -v`.
        const chain = args[args.indexOf('-S') + 1];
        const rules = this.tables.get(args[args.indexOf('-t') + 1])?.get(chain);
        if (!args.includes('-S') || !args.includes('-v')) throw new ExecError(argv, 2, 'fake iptables: only -S CHAIN -v is supported');
        if (!rules) throw new ExecError(argv, 1, `iptables: chain '${chain}' does not exist`);
        this.saves++;
        const line = (r: Rule) => {
          const j = r.text.lastIndexOf(' -j ');
          return `-A ${chain} ${r.text.slice(0, j)} -c ${r.packets ?? 0} ${r.bytes ?? 0}${r.text.slice(j)}`;
        };
        return ok([`-N ${chain}`, ...rules.map(line)].join('\n') + '\n');
      }
      case 'sysctl': {
        const [k, v] = args[args.length - 1].split('=');
        this.sysctls.set(k, v);
        return ok();
      }
      case 'conntrack':
        this.conntrackDeletes.push(args.slice(2));
        throw new ExecError(argv, 1, 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n');
      default:
        throw new ExecError(argv, 127, `fake iptables: unexpected command ${args[0]}`);
    }
  };

  private restore(argv: string[], input: string): void {
    let work: Map<string, Rule[]> | undefined;
    let table = '';
    let declared = new Set<string>();
    input.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      const fail = (msg: string): never => {
        throw new ExecError(argv, 1, `iptables-restore: line ${i + 1} failed: ${msg}\n`);
      };
      if (!line || line.startsWith('#')) return;
      if (line.startsWith('*')) {
        table = line.slice(1);
        if (!this.tables.has(table)) fail(`unknown table ${table}`);
        work = new Map([...this.tables.get(table)!].map(([c, r]) => [c, [...r]]));
        declared = new Set();
        return;
      }
      if (!work) return fail('rule outside a table');
      if (line === 'COMMIT') {
        this.tables.set(table, work);
        work = undefined;
        return;
      }
      if (line.startsWith(':')) {
        const name = line.slice(1).split(' ')[0];
        if (name.length > 28) fail(`chain name too long: ${name}`);
        if (declared.has(name)) fail(`chain ${name} declared twice`);
        declared.add(name);
        if (!BUILTIN[table].includes(name)) work.set(name, []); // --noflush: declaring flushes
        return;
      }
      const words = tokenize(line);
      const [cmd, chain] = words;
      const rules = work.get(chain) ?? fail(`No chain/target/match by that name (${chain})`);
      if (cmd === '-X') {
        if (BUILTIN[table].includes(chain)) fail('cannot delete a built-in chain');
        if (rules.length) fail(`chain ${chain} is not empty`);
        for (const [c, rs] of work) if (rs.some((r) => r.target === chain)) fail(`chain ${chain} is referenced by ${c}`);
        work.delete(chain);
      } else if (cmd === '-F') rules.length = 0;
      else if (cmd === '-A' || cmd === '-I' || cmd === '-D') {
        let rest = words.slice(2);
        let pos = cmd === '-I' ? 0 : rules.length;
        if (cmd === '-I' && /^\d+$/.test(rest[0] ?? '')) pos = Number(rest.shift()) - 1;
        const rule = parseRule(rest, table, work, fail);
        if (cmd === '-D') {
          const at = rules.findIndex((r) => r.text === rule.text);
          if (at < 0) fail(`Bad rule (does a matching rule exist in that chain?)`);
          rules.splice(at, 1);
        } else rules.splice(Math.min(pos, rules.length), 0, rule);
      } else fail(`unknown command ${cmd}`);
    });
    if (work) throw new ExecError(argv, 1, 'iptables-restore: COMMIT expected at line ' + (input.split('\n').length));
  }

  save(table: string, counters = false): string {
    const chains = this.tables.get(table)!;
    const out = [`*${table}`];
    for (const c of chains.keys()) out.push(BUILTIN[table].includes(c) ? `:${c} ${this.policies.get(`${table}/${c}`) ?? 'ACCEPT'} [0:0]` : `:${c} - [0:0]`);
    for (const [c, rules] of chains) for (const r of rules) out.push(`${counters ? `[${r.packets ?? 0}:${r.bytes ?? 0}] ` : ''}-A ${c} ${r.text}`);
    return out.join('\n') + '\nCOMMIT\n';
  }

  /** Our chains (SHOAL-*) by table, for "nothing of ours is left" checks. */
  ourChains(): string[] {
    return [...this.tables].flatMap(([t, cs]) => [...cs.keys()].filter((c) => c.startsWith('SHOAL-')).map((c) => `${t} ${c}`));
  }

  rules(table: string, chain: string): string[] {
    return (this.tables.get(table)?.get(chain) ?? []).map((r) => r.text);
  }

  /** Adds to the counters of the first rule of a chain whose text contains `match`, as packets hitting it would. */
  count(table: string, chain: string, match: string, packets: number, bytes: number): void {
    const rule = this.tables.get(table)?.get(chain)?.find((r) => r.text.includes(match));
    if (!rule) throw new Error(`fake iptables: no rule in ${table} ${chain} contains ${match}`);
    rule.packets = (rule.packets ?? 0) + packets;
    rule.bytes = (rule.bytes ?? 0) + bytes;
  }

  /** Deletes a rule by hand, as an admin would (drift). */
  deleteRule(table: string, chain: string, index: number): void {
    this.tables.get(table)!.get(chain)!.splice(index, 1);
  }

  /** Every way the packet can go, with probabilities summing to 1. */
  trace(pkt: Packet): Outcome[] {
    const local = pkt.from === 'local';
    const start: State = { dst: pkt.dst, dport: pkt.dport, dnat: false, mark: 0, connmark: 0, masq: false, in: local ? '' : pkt.from, out: '' };
    const results: Outcome[] = [];
    for (const n of this.walk('nat', local ? 'OUTPUT' : 'PREROUTING', 0, start, 1, pkt)) {
      const st = { ...n.st };
      const toLocal = this.isLocal(st.dst);
      st.out = toLocal ? '' : (this.net.routes.find((r) => inCidr(st.dst, r.subnet))?.dev ?? 'eth0');
      const hook = local ? 'OUTPUT' : toLocal ? 'INPUT' : 'FORWARD';
      for (const f of this.walk('filter', hook, 0, st, n.p, pkt)) {
        const verdictOf = (v: string) => (v === 'REJECT' ? 'rejected' : v === 'DROP' ? 'dropped' : 'delivered');
        let final = verdictOf(f.verdict === 'RETURN' ? (this.policies.get(`filter/${hook}`) ?? 'ACCEPT') : f.verdict);
        const post = final === 'delivered' && !toLocal ? this.walk('nat', 'POSTROUTING', 0, f.st, f.p, pkt) : [{ p: f.p, st: f.st, verdict: 'RETURN' }];
        for (const o of post) {
          const masqueraded = o.verdict === 'MASQUERADE';
          const to = `${o.st.dst}:${o.st.dport}`;
          const what = `${pkt.proto.toUpperCase()} to ${pkt.dst}:${pkt.dport} from ${pkt.src}`;
          const how = final !== 'delivered' ? `${final}${f.reason ? ` (${f.reason})` : ''}` : `${o.st.dnat ? `DNAT to ${to}` : `to ${to}`}${masqueraded ? ', masqueraded' : ''}`;
          results.push({ probability: o.p, verdict: final as Outcome['verdict'], to, dnat: o.st.dnat, masqueraded, reason: f.reason, text: `${what} → ${how}` });
        }
      }
    }
    return results;
  }

  private isLocal(ip: string): boolean {
    return ip.startsWith('127.') || this.net.localAddrs.includes(ip);
  }

  /** Walks table/chain from rule idx; returns each terminal branch (RETURN = fell off the end). */
  private walk(table: string, chain: string, idx: number, st: State, p: number, pkt: Packet): Branch[] {
    const rules = this.tables.get(table)!.get(chain) ?? [];
    for (let i = idx; i < rules.length; i++) {
      const r = rules[i];
      const m = this.matches(r, st, pkt);
      if (m === 0) continue;
      const out: Branch[] = [];
      if (m < 1) out.push(...this.walk(table, chain, i + 1, st, p * (1 - m), pkt));
      const q = p * m;
      const o = (k: string) => r.opts.get(k)?.value;
      if (r.target === 'DNAT') {
        const [ip, port] = o('--to-destination')!.split(':');
        out.push({ p: q, st: { ...st, dst: ip, dport: port ? Number(port) : st.dport, dnat: true }, verdict: 'ACCEPT' });
      } else if (r.target === 'MARK' || r.target === 'CONNMARK') {
        const [v] = o('--set-xmark')!.split('/');
        const marked = r.target === 'MARK' ? { ...st, mark: st.mark | Number(v) } : { ...st, connmark: st.connmark | Number(v) };
        out.push(...this.walk(table, chain, i + 1, marked, q, pkt));
      } else if (['ACCEPT', 'DROP', 'REJECT', 'MASQUERADE'].includes(r.target)) {
        out.push({ p: q, st, verdict: r.target, reason: o('--comment') });
      } else if (r.target === 'RETURN') out.push({ p: q, st, verdict: 'RETURN' });
      else if (r.target) {
        for (const b of this.walk(table, r.target, 0, st, q, pkt)) {
          if (b.verdict === 'RETURN') out.push(...this.walk(table, chain, i + 1, b.st, b.p, pkt));
          else out.push(b);
        }
      } else out.push(...this.walk(table, chain, i + 1, st, q, pkt));
      return out;
    }
    return [{ p, st, verdict: 'RETURN' }];
  }

  /** 1 if the rule matches, 0 if not, the probability for a statistic match. */
  private matches(r: Rule, st: State, pkt: Packet): number {
    const checks: [string, (v: string) => boolean][] = [
      ['-p', (v) => v === pkt.proto],
      ['-s', (v) => inCidr(pkt.src, v)],
      ['-d', (v) => inCidr(st.dst, v)],
      ['-i', (v) => v === st.in],
      ['-o', (v) => v === st.out],
      ['--dport', (v) => Number(v) === st.dport],
      ['--dst-type', (v) => v === 'LOCAL' && this.isLocal(st.dst)],
      ['--src-type', (v) => v === 'LOCAL' && (pkt.from === 'local' || this.isLocal(pkt.src))],
      ['--ctstate', (v) => v.split(',').some((s) => s === 'NEW' || (s === 'DNAT' && st.dnat))],
      ['--mark', (v) => { const [val, mask] = v.split('/').map(Number); return (st.mark & (mask ?? 0xffffffff)) === val; }],
      ['--connmark', (v) => { const [val, mask] = v.split('/').map(Number); return (st.connmark & (mask ?? 0xffffffff)) === val; }],
      // The traced packet is a connection's first, original-direction one: its original tuple is the packet's.
      ['--ctproto', (v) => v === PROTO_NUMBERS[pkt.proto] || v === pkt.proto],
      ['--ctorigdst', (v) => inCidr(pkt.dst, v)],
      ['--ctorigdstport', (v) => Number(v) === pkt.dport],
      ['--ctdir', (v) => v === 'ORIGINAL'],
    ];
    for (const [k, test] of checks) {
      const o = r.opts.get(k);
      if (o && test(o.value) === o.neg) return 0;
    }
    const prob = r.opts.get('--probability');
    return prob ? Number(prob.value) : 1;
  }
}

interface State { dst: string; dport: number; dnat: boolean; mark: number; connmark: number; masq: boolean; in: string; out: string }
interface Branch { p: number; st: State; verdict: string; reason?: string }

function parseRule(words: string[], table: string, chains: Map<string, Rule[]>, fail: (m: string) => never): Rule {
  const opts = new Map<string, { value: string; neg: boolean }>();
  let target = '';
  let module = '';
  for (let i = 0; i < words.length; i++) {
    let neg = false;
    if (words[i] === '!') (neg = true), i++;
    const w = words[i];
    const v = words[++i];
    if (v === undefined) fail(`option ${w} needs a value`);
    if (w === '-j' || w === '-g') {
      if (!TARGETS[table].includes(v) && !chains.has(v)) fail(`Chain '${v}' does not exist`);
      if (['DNAT', 'SNAT', 'MASQUERADE', 'REJECT', 'DROP'].includes(v) && !TARGETS[table].includes(v)) fail(`${v} is not allowed in ${table}`);
      target = v;
    } else if (!OPTIONS.has(w)) fail(`unknown option "${w}"`);
    else if (w === '-m' && !MATCHES.has(v)) fail(`Couldn't load match \`${v}'`);
    else if (w === '-m') module = v;
    // `-m connmark --mark` tests the connection's mark, `-m mark --mark` the packet's.
    else opts.set(w === '--mark' && module === 'connmark' ? '--connmark' : w, { value: v, neg });
  }
  if (target === 'DNAT' && !opts.has('--to-destination')) fail('DNAT needs --to-destination');
  return { text: words.map((w) => (/\s/.test(w) ? `"${w}"` : w)).join(' '), opts, target };
}

function tokenize(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

function toInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function inCidr(ip: string, cidr: string): boolean {
  const [base, len = '32'] = cidr.split('/');
  const bits = Number(len);
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : ~((1 << (32 - bits)) - 1) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === ((toInt(base) & mask) >>> 0);
}
