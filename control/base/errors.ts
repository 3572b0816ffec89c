/**
 * Errors as typed values. Every failure a user can cause carries an HTTP status (Docker's API codes), a stable
 * code, and a message that names the field at fault and the fix. The API layer turns these into
 * `{"message": ...}` bodies; the CLI prints the message and exits non-zero.
 */
export type ErrorCode =
  | 'invalid-argument' // 400
  | 'not-found' // 404
  | 'conflict' // 409: name taken, version out of date
  | 'not-a-manager' // 503
  | 'failed-precondition' // 400 in Docker's mapping (e.g. no previous spec)
  | 'unavailable' // 503
  | 'internal'; // 500

const STATUS: Record<ErrorCode, number> = {
  'invalid-argument': 400,
  'not-found': 404,
  conflict: 409,
  'not-a-manager': 503,
  'failed-precondition': 400,
  unavailable: 503,
  internal: 500,
};

export class ShoalError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** The offending field, e.g. `Spec.Mode.Replicated.Replicas`, when there is one. */
  readonly field?: string;
  constructor(code: ErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'ShoalError';
    this.code = code;
    this.status = STATUS[code];
    this.field = field;
  }
}

export const invalidArgument = (field: string, message: string): ShoalError =>
  new ShoalError('invalid-argument', message, field);
export const notFound = (message: string): ShoalError => new ShoalError('not-found', message);
export const conflict = (message: string): ShoalError => new ShoalError('conflict', message);

export function isShoalError(e: unknown, code?: ErrorCode): e is ShoalError {
  return e instanceof ShoalError && (code === undefined || e.code === code);
}

/** A short, human message for anything thrown. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
