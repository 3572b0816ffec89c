/**
 * Shape check for placement constraints (`node.role==manager`, `node.labels.zone!=east`), run when a service is
 * created or updated so a typo fails the API call instead of leaving tasks pending forever. Only the syntax and
 * the key are checked here; matching against nodes is the scheduler's. Docker's wording is kept where it has one
 * (`constraint expected one operator from ==, !=`, `key '...' is invalid`, `value '...' is invalid`); the key
 * set is stricter than Docker's, which accepts any key and then never matches it.
 */
import { invalidArgument, ShoalError } from '../base/errors';

export const CONSTRAINT_KEYS = ['node.id', 'node.hostname', 'node.ip', 'node.role', 'node.platform.os', 'node.platform.arch'];
export const CONSTRAINT_LABEL_PREFIXES = ['node.labels.', 'engine.labels.'];

const KEY_PATTERN = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE_PATTERN = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;
const KEY_HELP =
  'use node.id, node.hostname, node.ip, node.role, node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>';

export interface ConstraintParts {
  key: string;
  operator: '==' | '!=';
  value: string;
}

/** Splits one constraint at its first operator, or explains why it cannot. */
export function parseConstraint(expr: string, field: string): ConstraintParts {
  const eq = expr.indexOf('==');
  const ne = expr.indexOf('!=');
  const fail = (why: string): ShoalError => invalidArgument(field, `invalid constraint ${JSON.stringify(expr)}: ${why}`);
  if (eq < 0 && ne < 0) throw fail('constraint expected one operator from ==, != (write key==value or key!=value)');
  const at = ne < 0 || (eq >= 0 && eq < ne) ? eq : ne;
  const operator = expr.slice(at, at + 2) as '==' | '!=';
  const key = expr.slice(0, at).trim();
  const value = expr.slice(at + 2).trim();
  if (!KEY_PATTERN.test(key)) throw fail(`key '${key}' is invalid (${KEY_HELP})`);
  const lower = key.toLowerCase();
  const prefix = CONSTRAINT_LABEL_PREFIXES.find((p) => lower.startsWith(p));
  if (prefix !== undefined ? key.length === prefix.length : !CONSTRAINT_KEYS.includes(lower)) {
    throw fail(`key '${key}' is invalid (${KEY_HELP})`);
  }
  if (!VALUE_PATTERN.test(value)) throw fail(`value '${value}' is invalid`);
  return { key, operator, value };
}
