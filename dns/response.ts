/**
 * Response encoding shared by local answers and forwarded ones: header flags, the EDNS0 echo, and the size rule
 * (UDP answers fit in 512 bytes, or the client's EDNS size up to 4096; what does not fit loses additional records,
 * then answers from the end, and carries TC so the client retries over TCP).
 */
import * as dnsPacket from 'dns-packet';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export const RCODE_NAME: Record<number, string> = Object.fromEntries(Object.entries(RCODE).map(([k, v]) => [v, k]));
export const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080 } as const;

/** The UDP payload size we advertise in our OPT record (the 2020 DNS flag day value: no IP fragmentation). */
export const OUR_EDNS_SIZE = 1232;
const MAX_UDP = 4096;

/** What a response says, before encoding. */
export interface Local {
  rcode: number;
  answers: dnsPacket.Answer[];
  authorities?: dnsPacket.Answer[];
  additionals: dnsPacket.Answer[];
  /** Authoritative: set for our own names. */
  aa: boolean;
}

/** Header flags without QR (dns-packet adds it for type "response"): RD echoed, RA always (we forward). */
export function responseFlags(rd: number, aa: boolean, rcode: number): number {
  return (aa ? FLAG.AA : 0) | (rd ? FLAG.RD : 0) | FLAG.RA | (rcode & 0xf);
}

/** The largest response for this transport: maxSize is 65535 on TCP, 512 on UDP unless EDNS says more. */
export function limitFor(maxSize: number, opt: dnsPacket.OptAnswer | undefined): number {
  if (maxSize > MAX_UDP || !opt) return maxSize;
  return Math.min(MAX_UDP, Math.max(512, opt.udpPayloadSize || 512));
}

export function encodeResponse(
  query: dnsPacket.Packet,
  question: dnsPacket.Question,
  local: Local,
  limit: number,
  edns: boolean,
): { bytes: Buffer; truncated: boolean } {
  const rd = (query.flags ?? 0) & FLAG.RD;
  const opt: dnsPacket.Answer[] = edns
    ? [{ name: '.', type: 'OPT', udpPayloadSize: OUR_EDNS_SIZE, extendedRcode: local.rcode >> 4, ednsVersion: 0, flags: 0, options: [] } as unknown as dnsPacket.Answer]
    : [];
  const pkt = {
    id: query.id ?? 0,
    type: 'response' as const,
    flags: responseFlags(rd, local.aa, local.rcode),
    questions: [question],
    answers: local.answers,
    authorities: local.authorities ?? [],
    additionals: [...local.additionals, ...opt],
  };
  let bytes = dnsPacket.encode(pkt);
  if (bytes.length <= limit) return { bytes, truncated: false };
  // Too big: shed additionals, then answers and authorities from the end, until it fits; then say TC.
  pkt.flags |= FLAG.TC;
  const additionals = local.additionals.slice();
  const answers = local.answers.slice();
  const authorities = (local.authorities ?? []).slice();
  while (bytes.length > limit && (additionals.length || answers.length || authorities.length)) {
    if (additionals.length) additionals.pop();
    else if (authorities.length) authorities.pop();
    else answers.pop();
    pkt.additionals = [...additionals, ...opt];
    pkt.answers = answers;
    pkt.authorities = authorities;
    bytes = dnsPacket.encode(pkt);
  }
  if (bytes.length > limit) bytes = bytes.subarray(0, limit); // a question alone too long: cannot happen (≤ 271 B)
  return { bytes, truncated: true };
}

/** A forwarded answer as a Local: upstream's records and code, its OPT dropped (we add our own). */
export function fromUpstream(up: dnsPacket.Packet): Local {
  const flags = up.flags ?? 0;
  return {
    rcode: flags & 0xf,
    answers: up.answers ?? [],
    authorities: up.authorities ?? [],
    additionals: (up.additionals ?? []).filter((a) => a.type !== 'OPT'),
    aa: (flags & FLAG.AA) !== 0,
  };
}

export function servfail(): Local {
  return { rcode: RCODE.SERVFAIL, answers: [], additionals: [], aa: false };
}

/**
 * True when the header's section counts could fit in the packet (a question takes at least 5 bytes, a record at
 * least 11). dns-packet allocates an array per section from these counts before reading a byte of them, so a
 * 20-byte packet claiming 4 × 65535 records would cost megabytes: such packets are refused before decoding.
 */
export function countsFit(msg: Buffer): boolean {
  if (msg.length < 12) return false;
  const qd = msg.readUInt16BE(4);
  const rr = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  return qd * 5 + rr * 11 <= msg.length - 12;
}
