/**
 * Docker's `filters` query parameter: a JSON object of name → values, in either the current form
 * `{"name":["web"]}` or the legacy form `{"name":{"web":true}}`. Unknown filter names are refused with the list
 * of valid ones, as Docker does.
 */
import { invalidArgument } from '../../base/errors';

export type Filters = Map<string, string[]>;

export function parseFilters(raw: string | null, allowed: string[]): Filters {
  const out: Filters = new Map();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument('filters', `invalid filter: filters must be JSON like {"name":["web"]}, got ${raw}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalidArgument('filters', 'invalid filter: filters must be a JSON object of name to values');
  }
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!allowed.includes(name)) {
      throw invalidArgument('filters', `invalid filter '${name}': valid filters are ${allowed.join(', ')}`);
    }
    const values = Array.isArray(value) ? value.map(String) : value && typeof value === 'object' ? Object.keys(value) : [String(value)];
    out.set(name, values);
  }
  return out;
}

/** True when the filter is absent or one of its values satisfies test. */
export function matchAny(filters: Filters, name: string, test: (value: string) => boolean): boolean {
  const values = filters.get(name);
  return !values || values.length === 0 || values.some(test);
}

/** Docker's label filter: `key` (present) or `key=value`. */
export function matchLabels(filters: Filters, name: string, labels: Record<string, string> | undefined): boolean {
  return (filters.get(name) ?? []).every((f) => {
    const i = f.indexOf('=');
    if (i < 0) return labels !== undefined && f in labels;
    return labels?.[f.slice(0, i)] === f.slice(i + 1);
  });
}
