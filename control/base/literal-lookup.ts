/**
 * The `lookup` for UDP sockets that only ever send to IP literals (the DNS resolver's: a client's source address,
 * or an upstream, which the forwarder requires to be one; the userspace mesh's: clients and tasks), so there is
 * nothing to look up. Node's default goes through dns.lookup, which for a literal still costs two regular
 * expressions and a nextTick per datagram: ~1.1 µs of CPU per send here (2.3 against 3.4 µs, bench/README.md dns
 * section), against ~0.2 µs for net.isIPv6's regex alone, which the `:` test below also avoids.
 */
export function literalLookup(address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, address, address.includes(':') ? 6 : 4);
}
