/**
 * Reading a DNS message's bytes without decoding it: where the question ends, whether two questions are the
 * same name, and how long an answer may be cached. The forwarder relays upstream answers as bytes (only the ID
 * changes), so it needs these few facts from them; decoding the whole message per query is what made a
 * forwarded name cost several times asking the upstream directly. Every reader here returns a "no" (-1, false,
 * 0) for bytes that do not parse, never throws.
 */

const FLAGS_RCODE = 3;
const TYPE_SOA = 6;

/** The offset just past the name at `p` (a compression pointer ends it), or -1 when it runs off the end. */
export function skipName(b: Buffer, p: number): number {
  while (p < b.length) {
    const l = b[p];
    if (l === 0) return p + 1;
    if ((l & 0xc0) === 0xc0) return p + 2 <= b.length ? p + 2 : -1;
    if (l & 0xc0) return -1; // the reserved label types (0x40, 0x80)
    p += l + 1;
  }
  return -1;
}

/** The offset just past the first question (name, type, class), or -1. */
export function questionEnd(b: Buffer): number {
  if (b.length < 12 || (b[4] === 0 && b[5] === 0)) return -1;
  const p = skipName(b, 12);
  return p < 0 || p + 4 > b.length ? -1 : p + 4;
}

/**
 * Whether `b` carries exactly one question and it is `question` (the bytes from offset 12 of what we sent),
 * letters compared without case: a resolver may echo the name in another case than asked (0x20 randomisation).
 */
export function sameQuestion(b: Buffer, question: Buffer): boolean {
  if (b[4] !== 0 || b[5] !== 1 || b.length < 12 + question.length) return false;
  for (let i = 0; i < question.length; i++) {
    const x = b[12 + i];
    const y = question[i];
    if (x !== y && !(isLetter(x) && (x | 0x20) === (y | 0x20))) return false;
  }
  return true;
}

function isLetter(c: number): boolean {
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x7a;
}

/**
 * Seconds an answer may be cached, by the rule of forward-cache.ts's cacheTtl() read straight from the bytes:
 * NOERROR/NXDOMAIN only; the smallest TTL of the answer records; with none, the SOA's TTL capped by its minimum
 * (RFC 2308); otherwise 0. 0 also for bytes that do not parse: what cannot be read is not cached.
 */
export function wireCacheTtl(b: Buffer): number {
  if (b.length < 12) return 0;
  const rcode = b[FLAGS_RCODE] & 0xf;
  if (rcode !== 0 && rcode !== 3) return 0;
  const qd = b.readUInt16BE(4);
  const an = b.readUInt16BE(6);
  const ns = b.readUInt16BE(8);
  let p = 12;
  for (let i = 0; i < qd; i++) {
    p = skipName(b, p);
    if (p < 0 || (p += 4) > b.length) return 0;
  }
  let min = Infinity;
  for (let i = 0; i < an + ns; i++) {
    p = skipName(b, p);
    if (p < 0 || p + 10 > b.length) return 0;
    const type = b.readUInt16BE(p);
    const ttl = b.readUInt32BE(p + 4);
    const rdEnd = p + 10 + b.readUInt16BE(p + 8);
    if (rdEnd > b.length) return 0;
    if (i < an) min = Math.min(min, ttl);
    else if (an === 0 && type === TYPE_SOA && rdEnd - 4 >= p + 10) return Math.min(ttl, b.readUInt32BE(rdEnd - 4));
    p = rdEnd;
  }
  return an > 0 ? min : 0;
}

const TYPE_OPT = 41;

/**
 * Offsets of the TTL field of every record after the question (answers, authorities, additionals), the OPT
 * pseudo-record left out (its "TTL" holds EDNS flags): where a cached answer's TTLs are lowered by its age.
 * Undefined when the bytes do not parse.
 */
export function ttlOffsets(b: Buffer): number[] | undefined {
  if (b.length < 12) return undefined;
  const qd = b.readUInt16BE(4);
  const rr = b.readUInt16BE(6) + b.readUInt16BE(8) + b.readUInt16BE(10);
  let p = 12;
  for (let i = 0; i < qd; i++) {
    p = skipName(b, p);
    if (p < 0 || (p += 4) > b.length) return undefined;
  }
  const out: number[] = [];
  for (let i = 0; i < rr; i++) {
    p = skipName(b, p);
    if (p < 0 || p + 10 > b.length) return undefined;
    if (b.readUInt16BE(p) !== TYPE_OPT) out.push(p + 4);
    p += 10 + b.readUInt16BE(p + 8);
    if (p > b.length) return undefined;
  }
  return out;
}

/**
 * Whether a query (one question ending at `qEnd`) carries nothing that belongs to its client alone: no records
 * but at most one OPT without options (a cookie or client subnet would make the upstream's answer that
 * client's). Such a query's answer may be served, as bytes, to another client asking the same.
 */
export function isPlainQuery(b: Buffer, qEnd: number): boolean {
  if (b[6] | b[7] | b[8] | b[9] | b[10]) return false;
  if (b[11] === 0) return qEnd === b.length;
  // Root owner, type OPT, then class (UDP size) and TTL (flags), and an empty RDATA: 11 bytes in all.
  return b[11] === 1 && qEnd + 11 === b.length && b[qEnd] === 0 && b.readUInt16BE(qEnd + 1) === TYPE_OPT && b[qEnd + 9] === 0 && b[qEnd + 10] === 0;
}
