/**
 * Typed readers for untrusted JSON request bodies. Each reader takes the parent object, the key and the dotted
 * path of the parent, and returns the value or `undefined` when the key is absent or null (Go's decoder treats
 * null as absent too). A value of the wrong shape is an `invalidArgument` naming the full field path, so the
 * normalizers never see an `unknown` past this file and every message says where the fault is.
 */
import { invalidArgument } from '../base/errors';
import { parseDuration } from '../base/clock';

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** JSON.stringify for messages: strings quoted, numbers bare, like Go's %q / %v. */
export function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' ? String(v) : JSON.stringify(v) ?? 'undefined';
}

function present(o: Json, key: string): unknown {
  const v = o[key];
  return v === null ? undefined : v;
}

export function objectAt(o: Json, key: string, path: string): Json | undefined {
  const v = present(o, key);
  if (v === undefined) return undefined;
  if (!isObject(v)) throw invalidArgument(join(path, key), `invalid ${join(path, key)} ${show(v)}: must be an object`);
  return v;
}

export function arrayAt(o: Json, key: string, path: string): unknown[] | undefined {
  const v = present(o, key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw invalidArgument(join(path, key), `invalid ${join(path, key)} ${show(v)}: must be a list`);
  return v;
}

export function stringAt(o: Json, key: string, path: string): string | undefined {
  const v = present(o, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidArgument(join(path, key), `invalid ${join(path, key)} ${show(v)}: must be a string`);
  return v;
}

export function boolAt(o: Json, key: string, path: string): boolean | undefined {
  const v = present(o, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') {
    throw invalidArgument(join(path, key), `invalid ${join(path, key)} ${show(v)}: must be true or false`);
  }
  return v;
}

export function numberAt(o: Json, key: string, path: string): number | undefined {
  const v = present(o, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw invalidArgument(join(path, key), `invalid ${join(path, key)} ${show(v)}: must be a number`);
  }
  return v;
}

/**
 * A non-negative integer (Docker's uint fields). `noun` names the quantity in the message, e.g.
 * `invalid Mode.Replicated.Replicas -3: replicas must be a non-negative integer`.
 */
export function countAt(o: Json, key: string, path: string, noun: string, max?: number): number | undefined {
  const v = present(o, key);
  if (v === undefined) return undefined;
  const field = join(path, key);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw invalidArgument(field, `invalid ${field} ${show(v)}: ${noun} must be a non-negative integer`);
  }
  if (max !== undefined && v > max) throw invalidArgument(field, `invalid ${field} ${v}: ${noun} must be at most ${max}`);
  return v;
}

/**
 * A duration in nanoseconds (Docker's wire form). Go duration strings ("10s") are accepted too, for hand-written
 * bodies; the result is always nanoseconds. Sign is left to the caller, which knows Docker's message.
 */
export function durationAt(o: Json, key: string, path: string): number | undefined {
  const v = present(o, key);
  if (v === undefined) return undefined;
  const field = join(path, key);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'string') {
    try {
      return v.startsWith('-') ? -parseDuration(v.slice(1)) : parseDuration(v);
    } catch {
      // fall through to the common message
    }
  }
  throw invalidArgument(field, `invalid ${field} ${show(v)}: durations are integer nanoseconds (or a string like "10s")`);
}

export function stringArrayAt(o: Json, key: string, path: string): string[] | undefined {
  const list = arrayAt(o, key, path);
  if (list === undefined) return undefined;
  list.forEach((item, i) => {
    if (typeof item !== 'string') {
      const field = join(join(path, key), i);
      throw invalidArgument(field, `invalid ${field} ${show(item)}: must be a string`);
    }
  });
  return [...(list as string[])];
}

/** A string-to-string map (labels, driver options). */
export function labelsAt(o: Json, key: string, path: string): Record<string, string> | undefined {
  const obj = objectAt(o, key, path);
  if (obj === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== 'string') {
      const field = join(path, key);
      throw invalidArgument(field, `invalid ${field}: value of "${k}" must be a string, not ${show(v)}`);
    }
    out[k] = v;
  }
  return out;
}

/** Drops keys whose value is undefined, so objects compare and serialise like Go's `omitempty` output. */
export function strip<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** `undefined` for an empty list or map, so it is omitted like Go's `omitempty`. */
export function nonEmpty<T extends unknown[] | Record<string, unknown>>(v: T | undefined): T | undefined {
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v.length : Object.keys(v).length) > 0 ? v : undefined;
}
