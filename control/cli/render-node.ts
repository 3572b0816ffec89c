/**
 * `node ls` rows: `.ID` (full, with " *" for the node the CLI talks to), `.Self`, `.Hostname`, `.Status`,
 * `.Availability`, `.ManagerStatus` (Leader / Reachable / Unreachable, empty for workers), `.EngineVersion`,
 * `.TLSStatus`. Rows are sorted by hostname like docker's.
 */
import type { Node } from '../api/types';
import { naturalLess } from './display';
import { renderList } from './formatter';
import { prettyPrint } from './units';

export const NODE_LS_FORMAT =
  'table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}';
export const NODE_HEADERS = {
  ID: 'ID',
  Hostname: 'HOSTNAME',
  Status: 'STATUS',
  Availability: 'AVAILABILITY',
  ManagerStatus: 'MANAGER STATUS',
  EngineVersion: 'ENGINE VERSION',
  TLSStatus: 'TLS STATUS',
};

export function nodeRow(n: Node, selfId: string, trustRoot?: string): object {
  let manager = '';
  if (n.ManagerStatus) manager = n.ManagerStatus.Leader ? 'Leader' : prettyPrint(n.ManagerStatus.Reachability);
  let tls = 'Unknown';
  if (trustRoot !== undefined) tls = n.Description?.TLSInfo?.TrustRoot === trustRoot ? 'Ready' : 'Needs Rotation';
  return {
    ID: n.ID,
    Self: n.ID === selfId,
    Hostname: n.Description?.Hostname ?? '',
    Status: prettyPrint(n.Status?.State),
    Availability: prettyPrint(n.Spec.Availability),
    ManagerStatus: manager,
    EngineVersion: n.Description?.Engine?.EngineVersion ?? '',
    TLSStatus: tls,
  };
}

export function renderNodeList(nodes: Node[], selfId: string, opts: { format?: string; quiet?: boolean; trustRoot?: string } = {}): string {
  const sorted = [...nodes].sort((a, b) => naturalLess(a.Description?.Hostname ?? '', b.Description?.Hostname ?? ''));
  const format = opts.quiet ? '{{.ID}}' : opts.format || NODE_LS_FORMAT;
  return renderList(format, sorted.map((n) => nodeRow(n, selfId, opts.trustRoot)), { headers: NODE_HEADERS, typeName: '*formatter.nodeContext' });
}
