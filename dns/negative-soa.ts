/**
 * The SOA record that negative answers for Shoal's own names carry in their authority section (RFC 2308 §3): a
 * caching resolver in front of us (systemd-resolved, dnsmasq, unbound) caches "no such name" / "no such type" for
 * min(SOA TTL, SOA minimum), and without an SOA it falls back to its own default — often minutes, long enough to
 * miss a task that starts a second later. Both are the short task TTL here.
 *
 * Shoal's names have no zone of their own ("web", "tasks.web"), so the SOA is owned by the question's top label
 * as the client spelled it: always an ancestor-or-self of the question, which resolvers check before using it.
 * MNAME and RNAME live under .invalid (RFC 6761): nobody should ever try to reach them.
 */
import * as dnsPacket from 'dns-packet';

const MNAME = 'resolver.shoal.invalid';
const RNAME = 'hostmaster.shoal.invalid';
const TYPE_SOA = 6;

/** The zone a negative answer names: the question's top label, in the client's case ("Tasks.Web" → "Web"). */
export function soaZone(qname: string): string {
  const labels = qname.replace(/\.$/, '').split('.');
  return labels[labels.length - 1];
}

function soaData(ttl: number): dnsPacket.SoaData {
  // refresh/retry/expire mean nothing without secondaries; minimum is what negative caching reads.
  return { mname: MNAME, rname: RNAME, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: ttl };
}

/** The authority record for the general path (dns-packet encodes it). */
export function soaAnswer(qname: string, ttl: number): dnsPacket.Answer {
  return { name: soaZone(qname), type: 'SOA', ttl, data: soaData(ttl) };
}

/**
 * The same record as bytes for the fast path: `owner` is the top label as it sits in the query (length byte,
 * label, terminating zero), so the case matches what the general path writes.
 */
export class SoaWriter {
  /** RDLENGTH + RDATA, fixed for one TTL. */
  private readonly rdata: Buffer;

  constructor(private readonly ttl: number) {
    const d = soaData(ttl);
    const names = Buffer.concat([wireName(d.mname), wireName(d.rname)]);
    this.rdata = Buffer.alloc(2 + names.length + 20);
    this.rdata.writeUInt16BE(names.length + 20, 0);
    names.copy(this.rdata, 2);
    [d.serial, d.refresh, d.retry, d.expire, d.minimum].forEach((v, i) => this.rdata.writeUInt32BE(v ?? 0, 2 + names.length + 4 * i));
  }

  size(ownerLen: number): number {
    return ownerLen + 8 + this.rdata.length;
  }

  write(out: Buffer, offset: number, owner: Buffer): number {
    let o = offset + owner.copy(out, offset);
    out.writeUInt16BE(TYPE_SOA, o);
    out.writeUInt16BE(1, o + 2);
    out.writeUInt32BE(this.ttl, o + 4);
    o += 8;
    return o + this.rdata.copy(out, o);
  }
}

/** A plain ASCII name in wire form, uncompressed (as dns-packet writes it). */
function wireName(name: string): Buffer {
  const parts = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}
