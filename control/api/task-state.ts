/**
 * The task state machine's order. Swarmkit's states are numbered so that comparison is ordering: a task never
 * moves backwards, and desired-state changes only move forward too.
 */
import { TASK_STATES, type TaskState } from './types';

export const rank = (s: TaskState): number => TASK_STATES[s];
export const before = (a: TaskState, b: TaskState): boolean => rank(a) < rank(b);
export const atLeast = (a: TaskState, b: TaskState): boolean => rank(a) >= rank(b);

/** States after which a task runs no more (COMPLETE and beyond). */
export const isTerminal = (s: TaskState): boolean => rank(s) >= TASK_STATES.complete;

/** Whether a reported state may replace the current one (strictly forward, as swarmkit's dispatcher insists). */
export const canMove = (from: TaskState, to: TaskState): boolean => rank(to) > rank(from);

/** Docker's capitalised display of a state ("Running", "Shutdown"). */
export function displayState(s: TaskState): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
