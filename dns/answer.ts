/**
 * Query → response, from the record table (records.ts), which this answerer owns and updates. Two paths give
 * the same bytes: the fast path handles the common case (one A or AAAA question for a name we own, at most a
 * plain EDNS0 OPT, nothing else in the packet): the answer is prepared once per view and question bytes
 * (memoized: a repeat is one map lookup), then served by copying it and patching the ID, or, when it is a
 * shuffled list of task IPs, by writing the few records straight into one Buffer. The general path decodes with
 * dns-packet and handles everything (EDNS options, SRV, PTR, NXDOMAIN for our names, FORMERR, truncation) and
 * tells the server when a name must be forwarded. A test holds the two paths byte-identical, so the fast path is
 * an optimisation, never a second behaviour. Names are echoed in the client's own case (0x20 randomisation keeps
 * working) and written uncompressed, as dns-packet writes them. A table change drops only the prepared answers
 * whose names it touched (forget()); the rest stay warm.
 */
import * as dnsPacket from 'dns-packet';
import type { EndpointTable } from '../mesh/endpoint-table';
import { Records, View, NameRecord, canonicalIp, reverseNameToIp, type RecordsChange } from './records';
import { RCODE, FLAG, OUR_EDNS_SIZE, responseFlags, limitFor, encodeResponse, countsFit, type Local } from './response';
import { SoaWriter, soaAnswer } from './negative-soa';

export interface AnswerOptions {
  /** TTL of answers that hold VIPs (they change only when the service goes). Default 600 s, as Docker. */
  vipTtl?: number;
  /** TTL of answers that list task IPs (dnsrr, tasks.NAME, task names, their PTRs). Default 2 s. */
  taskTtl?: number;
  /** Search domains stripped from names before lookup ("web.corp.example" answers as "web"). */
  searchDomains?: string[];
  /** Source of randomness for shuffling task IPs (tests inject a seeded one). */
  random?: () => number;
}

export type GeneralResult =
  | { kind: 'drop'; reason: string }
  | { kind: 'answer'; bytes: Buffer; rcode: number; qtype: string; truncated: boolean }
  | ForwardResult;

/** "Not ours: forward it". */
export interface ForwardResult {
  kind: 'forward';
  question: dnsPacket.Question;
  limit: number;
  edns: boolean;
}

const MAX_PREBUILT = 20_000;
const MAX_UDP = 4096;

/**
 * How the fast path answers one question for one view: the whole response (ID 0, RD clear), or what to shuffle;
 * or, with size Infinity, that it cannot because of the records (not our name, or one with SRV records).
 */
interface Prepared {
  /** The question's name, lower case: a change to this name (or to a name it ends in) drops the entry. */
  name: string;
  /** Its first label: forget() compares this first, so most entries cost one Set lookup and no string. */
  first: string;
  bytes?: Buffer;
  list: Buffer[];
  nameLen: number;
  qtype: number;
  size: number;
  /** The client's EDNS UDP size; 0 when it sent no OPT. */
  ednsSize: number;
  /** Set when the name is not ours in any way (the general path would forward it): its question, as decoded. */
  forward?: dnsPacket.Question;
}
/** Remembered too, so a question the fast path cannot take is not parsed again (whatever the records say). */
const NOT_FAST = 0;
const TYPE_A = 1;
const TYPE_AAAA = 28;

export class Answerer {
  private readonly vipTtl: number;
  private readonly taskTtl: number;
  private readonly search: string[];
  private readonly random: () => number;
  /** Per view, question bytes (client's case) → the prepared answer; cleared whole past MAX_PREBUILT entries. */
  private readonly prebuilt = new Map<View, Map<string, Prepared | typeof NOT_FAST>>();
  private memoized = 0;
  private readonly rdata = new WeakMap<NameRecord, { v4: Buffer[]; v6: Buffer[] }>();
  private readonly soa: SoaWriter;

  constructor(
    readonly records: Records,
    opts: AnswerOptions = {},
  ) {
    this.vipTtl = opts.vipTtl ?? 600;
    this.taskTtl = opts.taskTtl ?? 2;
    this.search = (opts.searchDomains ?? []).map((d) => '.' + d.toLowerCase().replace(/^\.+|\.+$/g, '')).filter((d) => d.length > 1);
    this.random = opts.random ?? Math.random;
    this.soa = new SoaWriter(this.taskTtl);
  }

  /**
   * Brings the records to `table` and drops the prepared answers it touched. Synchronous, as the query paths are,
   * so no query sees half a change. Returns the change, for other copies (udp-reader-pool.ts).
   */
  update(table: EndpointTable): RecordsChange {
    const change = this.records.update(table);
    this.forget(this.records.touched);
    return change;
  }

  /** Applies a change update() made elsewhere (an extra UDP reader gets the main process's changes). */
  apply(change: RecordsChange): void {
    this.records.apply(change);
    this.forget(this.records.touched);
  }

  /**
   * Drops the prepared answers that may depend on a touched name. An answer for NAME depends on NAME itself and
   * on the names it ends in after stripping a search domain or a network name ("web.front" is "web" in front);
   * both are NAME cut at a dot, so that is what is checked — dropping a little too much only costs one prepare.
   * Entries for names that were not ours (they went to the general path, then upstream) are checked alike, so a
   * name that appears is answered locally at once. One pass over the memo (at most MAX_PREBUILT entries).
   */
  private forget(touched: ReadonlySet<string> | 'all'): void {
    if (touched === 'all') {
      this.prebuilt.clear();
      this.memoized = 0;
      return;
    }
    if (touched.size === 0) return;
    const firsts = new Set<string>();
    for (const name of touched) firsts.add(firstLabel(name));
    for (const memo of this.prebuilt.values()) {
      memo.forEach((e, key) => {
        if (e !== NOT_FAST && firsts.has(e.first) && dependsOn(e.name, touched)) {
          memo.delete(key);
          this.memoized--;
        }
      });
    }
  }

  /**
   * The fast path, in one memo lookup: for a plain A/AAAA query, the response when we can answer it locally, or
   * the general path's "forward" (question, the client's size limit) when the name is not ours in any way — so a
   * forwarded name is not decoded; undefined when the query needs the general path (anything unusual, a name we
   * answer otherwise, an answer over `limit` bytes).
   */
  quick(q: Buffer, source: string, limit: number): Buffer | ForwardResult | undefined {
    const len = q.length;
    // QR=0, opcode 0, AA/TC clear (RD may be set); exactly one question and nothing else.
    if (len < 17 || len > 271 || (q[2] & 0xfe) !== 0 || q[4] !== 0 || q[5] !== 1) return undefined;
    if (q[6] | q[7] | q[8] | q[9] | q[10] | (q[11] & 0xfe)) return undefined; // no answers/authorities; OPT at most
    const view = this.records.viewFor(source);
    let memo = this.prebuilt.get(view);
    if (!memo) this.prebuilt.set(view, (memo = new Map()));
    // The question's bytes as sent (case included) decide the answer for this view: seen before, no parsing.
    const key = q.toString('latin1', 12);
    let e = memo.get(key);
    if (e === undefined) {
      e = this.prepare(q, view);
      if (this.memoized >= MAX_PREBUILT) {
        this.prebuilt.clear();
        this.memoized = 0;
        this.prebuilt.set(view, memo);
        memo.clear();
      }
      memo.set(key, e);
      this.memoized++;
    }
    if (e === NOT_FAST) return undefined;
    // UDP answers may use the client's EDNS size (as limitFor() on the general path); TCP ones are not limited.
    const max = e.ednsSize && limit <= MAX_UDP ? Math.min(MAX_UDP, Math.max(512, e.ednsSize)) : limit;
    if (e.forward) return { kind: 'forward', question: e.forward, limit: max, edns: e.ednsSize > 0 };
    if (e.size > max) return undefined;
    if (e.bytes) return patch(e.bytes, q);
    return patch(writeAnswer(q, e.nameLen, this.shuffle(e.list), this.taskTtl, e.qtype, e.size, e.ednsSize > 0), q, true);
  }

  /** quick()'s local answer alone (tests and benchmarks compare it with the general path's bytes). */
  fast(q: Buffer, source: string, limit: number): Buffer | undefined {
    const r = this.quick(q, source, limit);
    return Buffer.isBuffer(r) ? r : undefined;
  }

  /** quick()'s "forward" alone (a test holds it equal to general()'s). */
  fastForward(q: Buffer, source: string, maxSize: number): ForwardResult | undefined {
    const r = this.quick(q, source, maxSize);
    return r && !Buffer.isBuffer(r) ? r : undefined;
  }

  /** Parses the question once and decides how the fast path answers it (or that it cannot). */
  private prepare(q: Buffer, view: View): Prepared | typeof NOT_FAST {
    const len = q.length;
    let p = 12;
    let top = 12;
    let name = '';
    while (q[p] !== 0) {
      const l = q[p];
      top = p;
      if (l > 63 || p + 1 + l >= len) return NOT_FAST;
      for (let i = p + 1; i <= p + l; i++) if (!SAFE[q[i]]) return NOT_FAST;
      name += (p === 12 ? '' : '.') + q.toString('latin1', p + 1, p + 1 + l);
      p += l + 1;
    }
    if (p === 12 || p + 5 > len) return NOT_FAST;
    const qtype = (q[p + 1] << 8) | q[p + 2];
    if ((qtype !== TYPE_A && qtype !== TYPE_AAAA) || q[p + 3] !== 0 || q[p + 4] !== 1) return NOT_FAST;
    // Nothing after the question, or exactly one plain EDNS0 OPT: root owner, version 0, no extended rcode, no
    // options (cookies and the rest take the general path). Its UDP size is all we need from it.
    let ednsSize = 0;
    if (q[11] === 0) {
      if (p + 5 !== len) return NOT_FAST;
    } else {
      const o = p + 5;
      if (o + 11 !== len || q[o] !== 0 || q[o + 1] !== 0 || q[o + 2] !== 41 || q[o + 5] !== 0 || q[o + 6] !== 0 || q[o + 9] !== 0 || q[o + 10] !== 0) return NOT_FAST;
      ednsSize = (q[o + 3] << 8) | q[o + 4] || 512;
    }
    const lower = name.toLowerCase();
    const first = firstLabel(lower);
    const rec = this.find(view, lower);
    if (!rec) {
      // Remember whether the general path would forward it (not a SRV name, not ours in another network...): the
      // same decision, made once, so a forwarded name costs no decode per query (fastForward()).
      const question: dnsPacket.Question = { name, type: qtype === TYPE_A ? 'A' : 'AAAA', class: 'IN' };
      const forward = this.resolve(view, question) === undefined ? question : undefined;
      return { name: lower, first, list: [], nameLen: 0, qtype, size: Infinity, ednsSize, ...(forward ? { forward } : {}) };
    }
    const list = qtype === TYPE_A ? this.bytesOf(rec).v4 : this.bytesOf(rec).v6;
    const nameLen = p + 1 - 12;
    // No address of this type (AAAA for a VIP): NOERROR with no records, and the SOA that bounds its caching.
    const soaOwner = list.length === 0 ? { owner: q.subarray(top, p + 1), writer: this.soa } : undefined;
    const size =
      12 + nameLen + 4 + list.length * (nameLen + 10) + list.reduce((s, b) => s + b.length, 0) + (soaOwner ? this.soa.size(soaOwner.owner.length) : 0) + (ednsSize ? OPT_BYTES.length : 0);
    if (rec.taskIps && list.length > 1) return { name: lower, first, list, nameLen, qtype, size, ednsSize }; // shuffled per query
    const bytes = writeAnswer(q, nameLen, list, rec.taskIps ? this.taskTtl : this.vipTtl, qtype, size, ednsSize > 0, soaOwner);
    return { name: lower, first, bytes, list, nameLen, qtype, size, ednsSize };
  }

  /** The general path: decode, answer what is ours, say "forward" for the rest, FORMERR or drop what is broken. */
  general(q: Buffer, source: string, maxSize: number): GeneralResult {
    if (q.length < 12) return { kind: 'drop', reason: 'short' };
    if (q[2] & 0x80) return { kind: 'drop', reason: 'response' }; // never answer answers (reflection loops)
    if (!countsFit(q)) return this.error(q, RCODE.FORMERR, maxSize);
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(q);
    } catch {
      return this.error(q, RCODE.FORMERR, maxSize);
    }
    if (((q[2] >> 3) & 0xf) !== 0) return this.error(q, RCODE.NOTIMP, maxSize);
    const question = query.questions?.[0];
    if (!question || query.questions!.length !== 1) return this.error(q, RCODE.FORMERR, maxSize);
    // dns-packet decodes labels to text; a name that would not encode back the same (a label with a dot or over
    // 63 bytes once re-encoded) can be neither answered nor forwarded faithfully.
    if (!encodable(question.name)) return this.error(q, RCODE.FORMERR, maxSize);
    const opts = (query.additionals ?? []).filter((a) => a.type === 'OPT') as dnsPacket.OptAnswer[];
    if (opts.length > 1) return this.error(q, RCODE.FORMERR, maxSize);
    const opt = opts[0];
    const limit = limitFor(maxSize, opt);
    if (opt && opt.ednsVersion !== 0) {
      const local: Local = { rcode: RCODE.BADVERS, answers: [], additionals: [], aa: false };
      return this.encoded(query, question, local, limit, !!opt);
    }
    if (question.class !== 'IN' && question.class !== 'ANY') return this.encoded(query, question, refused(), limit, !!opt);
    const local = this.resolve(this.records.viewFor(source), question);
    if (!local) return { kind: 'forward', question, limit, edns: !!opt };
    return this.encoded(query, question, local, limit, !!opt);
  }

  private encoded(query: dnsPacket.Packet, question: dnsPacket.Question, local: Local, limit: number, edns: boolean): GeneralResult {
    const { bytes, truncated } = encodeResponse(query, question, local, limit, edns);
    return { kind: 'answer', bytes, rcode: local.rcode, qtype: question.type, truncated };
  }

  private error(q: Buffer, rcode: number, maxSize: number): GeneralResult {
    const flags = responseFlags(q[2] & 1, false, rcode);
    const bytes = dnsPacket.encode({ id: q.readUInt16BE(0), type: 'response', flags, questions: [] });
    return { kind: 'answer', bytes: bytes.subarray(0, maxSize), rcode, qtype: 'NONE', truncated: false };
  }

  /** A local answer for the question, or undefined when the name is not ours (forward it). */
  resolve(view: View, question: dnsPacket.Question): Local | undefined {
    const name = question.name.toLowerCase().replace(/\.$/, '');
    const type: string = question.type;
    const ttl = (taskIps: boolean): number => (taskIps ? this.taskTtl : this.vipTtl);
    // Negative answers (NXDOMAIN, and NOERROR with no records) carry the SOA that bounds their caching.
    const soa = (): dnsPacket.Answer[] => [soaAnswer(question.name, this.taskTtl)];
    const nx = (): Local => ({ rcode: RCODE.NXDOMAIN, answers: [], authorities: soa(), additionals: [], aa: true });
    const ok = (answers: dnsPacket.Answer[], additionals: dnsPacket.Answer[] = []): Local => ({
      rcode: RCODE.NOERROR,
      answers,
      additionals,
      aa: true,
      ...(answers.length === 0 ? { authorities: soa() } : {}),
    });
    if (type === 'PTR' && (name.endsWith('.in-addr.arpa') || name.endsWith('.ip6.arpa'))) {
      const ip = reverseNameToIp(name);
      const rec = ip ? view.ptr(canonicalIp(ip)) : undefined;
      if (rec) return ok([{ name: question.name, type: 'PTR', ttl: ttl(rec.taskIps), data: rec.name }]);
      // Our subnets' reverse zones are ours: an unknown address there is NXDOMAIN, never a query to the world.
      if (ip && (this.records.ownsAddress(ip) || this.records.allView.ptr(canonicalIp(ip)))) return nx();
      return undefined;
    }
    for (const cand of this.candidates(name)) {
      const srv = view.srv(cand);
      if (srv) {
        if (type !== 'SRV' && type !== 'ANY') return ok([]);
        const answers: dnsPacket.Answer[] = [];
        const additionals: dnsPacket.Answer[] = [];
        for (const r of srv.length > 1 && srv[0].taskIps ? this.shuffle(srv) : srv) {
          answers.push({ name: question.name, type: 'SRV', ttl: ttl(r.taskIps), data: { priority: 0, weight: 1, port: r.port, target: r.target } });
          const t = view.lookup(r.target.toLowerCase());
          for (const ip of t?.v4 ?? []) additionals.push({ name: r.target, type: 'A', ttl: ttl(t!.taskIps), data: ip });
        }
        return ok(answers, additionals);
      }
      const rec = view.lookup(cand);
      if (!rec) continue;
      const a = type === 'A' || type === 'ANY' ? this.shuffleIf(rec, rec.v4) : [];
      const aaaa = type === 'AAAA' || type === 'ANY' ? this.shuffleIf(rec, rec.v6) : [];
      return ok([
        ...a.map((ip): dnsPacket.Answer => ({ name: question.name, type: 'A', ttl: ttl(rec.taskIps), data: ip })),
        ...aaaa.map((ip): dnsPacket.Answer => ({ name: question.name, type: 'AAAA', ttl: ttl(rec.taskIps), data: ip })),
      ]);
    }
    // Ours but not visible to this asker, or an SRV-style name under one of our names: NXDOMAIN, not forwarded.
    for (const cand of this.candidates(name)) {
      if (this.records.owns(cand)) return nx();
      const under = cand.replace(/^_[^.]+\.(_[^.]+\.)?/, '');
      if (under !== cand && this.records.owns(under)) return nx();
    }
    return undefined;
  }

  /** The name itself, then with each search domain stripped. */
  private candidates(name: string): string[] {
    const out = [name];
    for (const d of this.search) if (name.endsWith(d) && name.length > d.length) out.push(name.slice(0, -d.length));
    return out;
  }

  private find(view: View, name: string): NameRecord | undefined {
    if (this.search.length === 0) return view.srv(name) ? undefined : view.lookup(name);
    // Same order as resolve(): a candidate with SRV records wins there, so the fast path must step aside.
    for (const cand of this.candidates(name)) {
      if (view.srv(cand)) return undefined;
      const r = view.lookup(cand);
      if (r) return r;
    }
    return undefined;
  }

  private shuffleIf<T>(rec: NameRecord, list: T[]): T[] {
    return rec.taskIps && list.length > 1 ? this.shuffle(list) : list;
  }

  /** Fisher-Yates on a copy (Docker shuffles too); the same random sequence gives the same order on both paths. */
  private shuffle<T>(list: T[]): T[] {
    const out = list.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out;
  }

  private bytesOf(rec: NameRecord): { v4: Buffer[]; v6: Buffer[] } {
    let b = this.rdata.get(rec);
    if (!b) {
      b = {
        v4: rec.v4.map((ip) => Buffer.from(ip.split('.').map(Number))),
        v6: rec.v6.map((ip) => Buffer.from(canonicalIp(ip).replace(/:/g, ''), 'hex')),
      };
      this.rdata.set(rec, b);
    }
    return b;
  }
}

function firstLabel(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 ? name : name.slice(0, dot);
}

/** True when the name, or the name cut at one of its dots, is touched. */
function dependsOn(name: string, touched: ReadonlySet<string>): boolean {
  if (touched.has(name)) return true;
  for (let i = name.indexOf('.'); i > 0; i = name.indexOf('.', i + 1)) if (touched.has(name.slice(0, i))) return true;
  return false;
}

/** Label bytes the fast path accepts: letters, digits, '-', '_' (anything else takes the general path). */
const SAFE = new Uint8Array(256);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_') SAFE[c.charCodeAt(0)] = 1;

/**
 * Header + the question as sent + one record per address, names uncompressed (dns-packet's layout); for no
 * address, the SOA in the authority section; our OPT last when the client sent one.
 */
function writeAnswer(q: Buffer, nameLen: number, list: Buffer[], ttl: number, qtype: number, size: number, edns: boolean, soa?: { owner: Buffer; writer: SoaWriter }): Buffer {
  // Byte by byte rather than with Buffer's write and copy helpers: for these few short fields their call overhead
  // was most of a shuffled answer's cost (this runs per query for tasks. names).
  const out = Buffer.allocUnsafe(size);
  const flags = responseFlags(0, true, RCODE.NOERROR) | FLAG.QR;
  out[0] = 0;
  out[1] = 0;
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  put16(out, 4, 1);
  put16(out, 6, list.length);
  put16(out, 8, soa ? 1 : 0);
  put16(out, 10, edns ? 1 : 0);
  let o = 12 + copyBytes(q, 12, nameLen + 4, out, 12);
  for (const rd of list) {
    o += copyBytes(q, 12, nameLen, out, o);
    put16(out, o, qtype);
    put16(out, o + 2, 1);
    put16(out, o + 4, ttl >>> 16);
    put16(out, o + 6, ttl & 0xffff);
    put16(out, o + 8, rd.length);
    o += 10 + copyBytes(rd, 0, rd.length, out, o + 10);
  }
  if (soa) o = soa.writer.write(out, o, soa.owner);
  if (edns) copyBytes(OPT_BYTES, 0, OPT_BYTES.length, out, o);
  return out;
}

function put16(out: Buffer, at: number, v: number): void {
  out[at] = v >> 8;
  out[at + 1] = v & 0xff;
}

/** Copies n bytes; returns n. */
function copyBytes(from: Buffer, start: number, n: number, to: Buffer, at: number): number {
  for (let i = 0; i < n; i++) to[at + i] = from[start + i];
  return n;
}

/** Our OPT record as encodeResponse() writes it: root owner, our UDP size, rcode/version/flags 0, no options. */
const OPT_BYTES = Buffer.from([0, 0, 41, OUR_EDNS_SIZE >> 8, OUR_EDNS_SIZE & 0xff, 0, 0, 0, 0, 0, 0]);

/** Copy (unless fresh) with the client's ID and RD bit. */
function patch(resp: Buffer, q: Buffer, fresh = false): Buffer {
  let out = resp;
  if (!fresh) {
    out = Buffer.allocUnsafe(resp.length);
    out.set(resp); // one native call (Buffer.from(buffer) goes through several layers of JavaScript first)
  }
  out[0] = q[0];
  out[1] = q[1];
  out[2] = (out[2] & 0xfe) | (q[2] & 1);
  return out;
}

function encodable(name: string): boolean {
  if (name === '.') return true;
  if (Buffer.byteLength(name) > 253) return false;
  for (const label of name.split('.')) {
    const n = Buffer.byteLength(label);
    if (n === 0 || n > 63) return false;
  }
  return true;
}

function refused(): Local {
  return { rcode: RCODE.REFUSED, answers: [], additionals: [], aa: false };
}
