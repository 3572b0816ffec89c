/**
 * The node's upstream resolvers and search domains, read from resolv.conf the way Docker reads them: nameserver
 * and search lines, at most 3 upstreams, and when the file lists only systemd-resolved's stub (127.0.0.53) the
 * real list in /run/systemd/resolve/resolv.conf instead. Unlike Docker there is no fallback to 8.8.8.8: with no
 * upstream, forwarded names get SERVFAIL and a warning, and traffic never leaves for a resolver nobody chose.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Upstream } from './forwarder';

export interface ResolvConf {
  upstreams: Upstream[];
  search: string[];
}

const STUB = '127.0.0.53';
const SYSTEMD_REAL = '/run/systemd/resolve/resolv.conf';

export function parseResolvConf(text: string): ResolvConf {
  const upstreams: Upstream[] = [];
  let search: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...vals] = line.split(/\s+/);
    if (key === 'nameserver' && vals[0]) {
      const host = vals[0].replace(/%.*$/, ''); // drop an IPv6 zone
      if (isIP(host) && upstreams.length < 3) upstreams.push({ host, port: 53 });
    } else if (key === 'search' || key === 'domain') {
      search = vals.filter(Boolean);
    }
  }
  return { upstreams, search };
}

/** Reads the host's resolver configuration; `exclude` drops our own listen address (no forwarding loops). */
export function readResolvConf(path = '/etc/resolv.conf', exclude: string[] = [], read = (p: string) => readFileSync(p, 'utf8')): ResolvConf {
  let conf: ResolvConf;
  try {
    conf = parseResolvConf(read(path));
  } catch {
    return { upstreams: [], search: [] };
  }
  if (conf.upstreams.length > 0 && conf.upstreams.every((u) => u.host === STUB)) {
    try {
      const real = parseResolvConf(read(SYSTEMD_REAL));
      if (real.upstreams.length) conf = { upstreams: real.upstreams, search: conf.search };
    } catch {
      // keep the stub: it still answers
    }
  }
  return { upstreams: conf.upstreams.filter((u) => !exclude.includes(u.host)), search: conf.search };
}
