/**
 * `node inspect --pretty`: Docker's node template, tabs and the odd "Hostname:              \t" padding included.
 * Joined at is Go's time.Time string of CreatedAt, passed through Docker's PrettyPrint (hence "+0000 utc");
 * plugins are grouped by type with names sorted; the TLS section appears when the node reported TLS info.
 */
import type { Node } from '../api/types';
import { formatBytes, goTimeString, prettyPrint } from './units';

export function prettyNode(n: Node): string {
  let s = `ID:\t\t\t${n.ID}`;
  if (n.Spec.Name) s += `\nName:\t\t\t${n.Spec.Name}`;
  const labels = n.Spec.Labels ?? {};
  if (Object.keys(labels).length) {
    s += '\nLabels:';
    for (const k of Object.keys(labels).sort()) s += `\n - ${k}${labels[k] ? `=${labels[k]}` : ''}`;
  }
  const d = n.Description ?? ({} as Node['Description']);
  s += `\nHostname:              \t${d.Hostname ?? ''}`;
  s += `\nJoined at:             \t${prettyPrint(goTimeString(n.CreatedAt))}`;
  s += `\nStatus:\n State:\t\t\t${prettyPrint(n.Status?.State)}`;
  if (n.Status?.Message) s += `\n Message:              \t${prettyPrint(n.Status.Message)}`;
  s += `\n Availability:         \t${prettyPrint(n.Spec.Availability)}`;
  if (n.Status?.Addr) s += `\n Address:\t\t${n.Status.Addr}`;
  if (n.ManagerStatus) {
    s += `\nManager Status:\n Address:\t\t${n.ManagerStatus.Addr}\n Raft Status:\t\t${prettyPrint(n.ManagerStatus.Reachability)}`;
    s += n.ManagerStatus.Leader ? '\n Leader:\t\tYes' : '\n Leader:\t\tNo';
  }
  s += `\nPlatform:\n Operating System:\t${d.Platform?.OS ?? ''}\n Architecture:\t\t${d.Platform?.Architecture ?? ''}`;
  const cpus = Math.trunc((d.Resources?.NanoCPUs ?? 0) / 1e9);
  s += `\nResources:\n CPUs:\t\t\t${cpus}\n Memory:\t\t${formatBytes(d.Resources?.MemoryBytes ?? 0)}`;
  const plugins = d.Engine?.Plugins ?? [];
  if (plugins.length) {
    const byType = new Map<string, string[]>();
    for (const p of plugins) byType.set(p.Type, [...(byType.get(p.Type) ?? []), p.Name]);
    s += '\nPlugins:';
    for (const type of [...byType.keys()].sort()) {
      const names = (byType.get(type) as string[]).sort().join(', ');
      s += `\n ${type}:${names ? `\t\t${names}` : ''}`;
    }
  }
  s += `\nEngine Version:\t\t${d.Engine?.EngineVersion ?? ''}`;
  const elabels = d.Engine?.Labels ?? {};
  if (Object.keys(elabels).length) {
    s += '\nEngine Labels:';
    for (const k of Object.keys(elabels).sort()) s += `\n - ${k}${elabels[k] ? `=${elabels[k]}` : ''}`;
  }
  const tls = d.TLSInfo;
  if (tls && (tls.TrustRoot || tls.CertIssuerSubject || tls.CertIssuerPublicKey)) {
    s += `\nTLS Info:\n TrustRoot:\n${tls.TrustRoot ?? ''}\n Issuer Subject:\t${tls.CertIssuerSubject ?? ''}\n Issuer Public Key:\t${tls.CertIssuerPublicKey ?? ''}`;
  }
  return s + '\n';
}
