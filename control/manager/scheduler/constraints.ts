/**
 * Placement constraints: `key==value` / `key!=value` expressions that a node must all satisfy to receive a task.
 * Keys name node attributes (id, hostname, ip, role, platform, node and engine labels). Key and value match
 * case-insensitively, except label *names*, which are case-sensitive as Docker stores them; a missing attribute
 * reads as the empty string, so `node.labels.zone!=east` matches a node without a zone. Constraints are parsed
 * once per task group into matchers, so the scheduler's per-node check is a handful of string comparisons.
 */
import { BlockList, isIP } from 'node:net';
import { invalidArgument, type ShoalError } from '../../base/errors';
import type { Node } from '../../api/types';

export type ConstraintOperator = '==' | '!=';

export interface Constraint {
  /** The key as written (label names keep their case). */
  key: string;
  operator: ConstraintOperator;
  /** The expected value as written. */
  value: string;
  /** The original expression, for error messages. */
  expression: string;
}

const FIELD = 'TaskTemplate.Placement.Constraints';
const OPERATORS: ConstraintOperator[] = ['==', '!='];
const NODE_LABELS = 'node.labels.';
const ENGINE_LABELS = 'engine.labels.';
const PLAIN_KEYS = ['node.id', 'node.hostname', 'node.ip', 'node.role', 'node.platform.os', 'node.platform.arch'];
export const VALID_CONSTRAINT_KEYS = [...PLAIN_KEYS, 'node.labels.<name>', 'engine.labels.<name>'];

// Docker accepts a restricted alphabet so that values can later grow into patterns; we accept the same.
const KEY_PATTERN = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE_PATTERN = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;

function fail(message: string): ShoalError {
  return invalidArgument(FIELD, message);
}

/** Parses one expression; throws on a missing/doubled operator or a malformed key or value. */
export function parseConstraint(expression: string): Constraint {
  let found: { op: ConstraintOperator; at: number } | undefined;
  let count = 0;
  for (const op of OPERATORS) {
    for (let at = expression.indexOf(op); at !== -1; at = expression.indexOf(op, at + 1)) {
      count++;
      found = { op, at };
    }
  }
  if (count !== 1 || !found) {
    throw fail(`constraint expected one operator from ==, != (in "${expression}")`);
  }
  const key = expression.slice(0, found.at).trim();
  const value = expression.slice(found.at + 2).trim();
  if (!KEY_PATTERN.test(key)) throw fail(`key '${key}' is invalid (in constraint "${expression}")`);
  if (!VALUE_PATTERN.test(value)) throw fail(`value '${value}' is invalid (in constraint "${expression}")`);
  return { key, operator: found.op, value, expression };
}

export function parseConstraints(list: readonly string[] | undefined): Constraint[] {
  return (list ?? []).map(parseConstraint);
}

/**
 * Create-time validation for the API: syntax as above, plus known keys (Docker would accept an unknown key and
 * then never place the task; refusing it up front is kinder) and a well-formed address for `node.ip`.
 */
export function validateConstraints(list: readonly string[] | undefined): void {
  for (const c of parseConstraints(list)) {
    const lower = c.key.toLowerCase();
    const labelName = lower.startsWith(NODE_LABELS)
      ? c.key.slice(NODE_LABELS.length)
      : lower.startsWith(ENGINE_LABELS)
        ? c.key.slice(ENGINE_LABELS.length)
        : undefined;
    if (labelName === '') throw fail(`constraint "${c.expression}": missing label name after '${c.key}'`);
    if (labelName === undefined && !PLAIN_KEYS.includes(lower)) {
      throw fail(
        `constraint "${c.expression}": unknown key '${c.key}' (valid keys: ${VALID_CONSTRAINT_KEYS.join(', ')})`,
      );
    }
    if (lower === 'node.ip' && !addressMatcher(c.value)) {
      throw fail(`constraint "${c.expression}": '${c.value}' is not an IP address or CIDR subnet`);
    }
  }
}

/** A node predicate for one constraint. */
export type NodeMatcher = (node: Node) => boolean;

/** Builds a matcher for an IP ("10.0.0.5", "2001:db8::2") or a CIDR subnet ("10.0.0.0/24"); undefined if neither. */
function addressMatcher(value: string): ((addr: string) => boolean) | undefined {
  // A BlockList compares parsed addresses, so "2001:db8::2" equals "2001:0db8:0:0::2".
  const list = new BlockList();
  const family = isIP(value);
  if (family) {
    list.addAddress(value, family === 4 ? 'ipv4' : 'ipv6');
  } else {
    const slash = value.lastIndexOf('/');
    const base = value.slice(0, slash);
    const bits = Number(value.slice(slash + 1));
    const baseFamily = isIP(base);
    if (slash < 0 || !baseFamily || !/^\d+$/.test(value.slice(slash + 1))) return undefined;
    if (bits > (baseFamily === 4 ? 32 : 128)) return undefined;
    list.addSubnet(base, bits, baseFamily === 4 ? 'ipv4' : 'ipv6');
  }
  return (addr) => {
    const f = isIP(addr);
    return f !== 0 && list.check(addr, f === 4 ? 'ipv4' : 'ipv6');
  };
}

/** The node attribute a key names, or undefined for an unknown key. Missing attributes read as ''. */
function attributeReader(key: string): ((node: Node) => string) | undefined {
  const lower = key.toLowerCase();
  if (lower.startsWith(NODE_LABELS)) {
    const name = key.slice(NODE_LABELS.length);
    return (n) => n.Spec.Labels?.[name] ?? '';
  }
  if (lower.startsWith(ENGINE_LABELS)) {
    const name = key.slice(ENGINE_LABELS.length);
    return (n) => n.Description?.Engine?.Labels?.[name] ?? '';
  }
  switch (lower) {
    case 'node.id':
      return (n) => n.ID;
    case 'node.hostname':
      return (n) => n.Description?.Hostname ?? '';
    case 'node.role':
      return (n) => n.Spec.Role ?? '';
    case 'node.platform.os':
      return (n) => n.Description?.Platform?.OS ?? '';
    case 'node.platform.arch':
      return (n) => n.Description?.Platform?.Architecture ?? '';
    default:
      return undefined;
  }
}

/** Compiles one constraint; an unknown key or a malformed node.ip value never matches (fail closed). */
export function compileConstraint(c: Constraint): NodeMatcher {
  const equal = c.operator === '==';
  if (c.key.toLowerCase() === 'node.ip') {
    const inRange = addressMatcher(c.value);
    if (!inRange) return () => false;
    return (n) => inRange(n.Status?.Addr ?? '') === equal;
  }
  const read = attributeReader(c.key);
  if (!read) return () => false;
  const want = c.value.toLowerCase();
  return (n) => (read(n).toLowerCase() === want) === equal;
}

/**
 * One predicate for a whole constraint list (all must hold). Unparsable lists — which the API refuses, so only
 * possible for objects written around it — match no node rather than every node.
 */
export function compileConstraints(list: readonly string[] | undefined): NodeMatcher {
  let matchers: NodeMatcher[];
  try {
    matchers = parseConstraints(list).map(compileConstraint);
  } catch {
    return () => false;
  }
  if (matchers.length === 0) return () => true;
  return (n) => {
    for (const m of matchers) if (!m(n)) return false;
    return true;
  };
}
