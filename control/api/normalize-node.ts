/**
 * Node spec normalization for POST /nodes/{id}/update. The body replaces the whole spec, so Role and
 * Availability are required rather than defaulted: a client that forgot them must not silently demote a
 * manager or un-drain a node. Values are matched case-insensitively, as Docker does, and stored lowercase.
 */
import type { NodeAvailability, NodeRole, NodeSpec } from './types';
import { invalidArgument } from '../base/errors';
import { isObject, labelsAt, show, stringAt } from './json-fields';

const ROLES: NodeRole[] = ['worker', 'manager'];
const AVAILABILITIES: NodeAvailability[] = ['active', 'pause', 'drain'];

export function normalizeNodeSpec(spec: unknown): NodeSpec {
  if (!isObject(spec)) throw invalidArgument('Spec', `invalid node spec ${show(spec)}: the body must be a JSON object`);
  const role = (stringAt(spec, 'Role', '') ?? '').toLowerCase();
  if (!ROLES.includes(role as NodeRole)) {
    throw invalidArgument('Role', `invalid Role: ${show(role)} (use worker or manager)`);
  }
  const availability = (stringAt(spec, 'Availability', '') ?? '').toLowerCase();
  if (!AVAILABILITIES.includes(availability as NodeAvailability)) {
    throw invalidArgument('Availability', `invalid Availability: ${show(availability)} (use active, pause or drain)`);
  }
  const name = stringAt(spec, 'Name', '') || undefined;
  const out: NodeSpec = {
    ...(name !== undefined ? { Name: name } : {}),
    Labels: labelsAt(spec, 'Labels', '') ?? {},
    Role: role as NodeRole,
    Availability: availability as NodeAvailability,
  };
  return out;
}
