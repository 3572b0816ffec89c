/**
 * HAProxy as the benches' anchor for the userspace relay: TCP mode, round-robin, Debian's defaults otherwise,
 * the same in every bench so their HAProxy rows compare.
 */
export function haproxyTcpConfig(o: { threads: number; bind: string; servers: readonly string[] }): string {
  return `global
  nbthread ${o.threads}
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend bench
  bind ${o.bind}
  default_backend tasks
backend tasks
  balance roundrobin
${o.servers.map((s, i) => `  server task${i + 1} ${s}`).join('\n')}
`;
}
