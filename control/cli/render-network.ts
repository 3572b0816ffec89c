/**
 * `network ls` rows: NETWORK ID (12 characters unless --no-trunc), NAME, DRIVER, SCOPE, and the other fields
 * docker's formatter offers (`.IPv6`, `.Internal`, `.Labels`, `.CreatedAt`), sorted by name.
 */
import type { Network } from '../api/types';
import { naturalLess } from './display';
import { renderList } from './formatter';

export const NETWORK_LS_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';
export const NETWORK_HEADERS = {
  ID: 'NETWORK ID',
  Name: 'NAME',
  Driver: 'DRIVER',
  Scope: 'SCOPE',
  IPv6: 'IPV6',
  Internal: 'INTERNAL',
  Labels: 'LABELS',
  CreatedAt: 'CREATED AT',
};

export function networkRow(n: Network, noTrunc = false): object {
  const id = networkId(n);
  return {
    ID: noTrunc ? id : id.slice(0, 12),
    Name: n.Name,
    Driver: n.Driver,
    Scope: n.Scope,
    IPv6: String(!!n.EnableIPv6),
    Internal: String(!!n.Internal),
    Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    CreatedAt: n.Created,
  };
}

export function renderNetworkList(networks: Network[], opts: { format?: string; quiet?: boolean; noTrunc?: boolean } = {}): string {
  const sorted = [...networks].sort((a, b) => naturalLess(a.Name, b.Name));
  const format = opts.quiet ? '{{.ID}}' : opts.format || NETWORK_LS_FORMAT;
  return renderList(format, sorted.map((n) => networkRow(n, opts.noTrunc)), { headers: NETWORK_HEADERS, typeName: '*formatter.networkContext' });
}

/** Docker's API names a network's ID "Id" (other objects say "ID"); accept both. */
export function networkId(n: Network): string {
  return (n as Network & { Id?: string }).Id ?? n.ID;
}
