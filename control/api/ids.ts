/**
 * Object IDs as Docker makes them: 128 random bits written in lowercase base36, left-padded to 25 characters
 * (swarmkit identity/randomid.go). The first character is never a digit when a shorter form could be mistaken
 * for a number, which Docker does not bother with; we keep the plain form.
 */
import { randomBytes } from 'node:crypto';

export const ID_LENGTH = 25;

export function newId(): string {
  const n = BigInt('0x' + randomBytes(16).toString('hex'));
  return n.toString(36).padStart(ID_LENGTH, '0');
}

/** Docker's 12-character display form of an ID (service ls, service ps). */
export function shortId(id: string): string {
  return id.slice(0, 12);
}
