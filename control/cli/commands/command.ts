/**
 * What every swarmctl command is: a name under a group, a usage line, a flag table and a run function over a
 * context (the API client, output streams, whether stdout is a terminal, the clock, the environment). Commands
 * return an exit status; errors they throw are printed by the entry point in docker's words.
 */
import type { Client } from '../client';
import { flagHelp, type FlagDef, type ParsedFlags } from '../flags';

export interface CommandContext {
  client: Client;
  out: (s: string) => void;
  err: (s: string) => void;
  tty: boolean;
  now: () => number;
  env: (name: string) => string | undefined;
  /** For the progress waiter: resolves on Ctrl-C. */
  interrupt: () => { interrupted: Promise<void>; dispose: () => void };
}

export interface Command {
  /** e.g. "service create" */
  path: string;
  usage: string;
  summary: string;
  flags: FlagDef[];
  /** Stop reading flags at the first positional argument (IMAGE COMMAND ARGS...). */
  stopAtPositional?: boolean;
  minArgs?: number;
  maxArgs?: number;
  run(ctx: CommandContext, flags: ParsedFlags): Promise<number>;
}

/** An error printed exactly as its message (docker's inspect "Error: no such service: x", converge errors). */
export class PlainError extends Error {
  constructor(message: string, readonly status = 1) {
    super(message);
    this.name = 'PlainError';
  }
}

export const HELP_FLAG: FlagDef = { name: 'help', type: 'bool', help: 'Print usage' };

export function commandHelp(c: Command): string {
  const flags = [...c.flags, HELP_FLAG];
  return `\nUsage:  swarmctl ${c.usage}\n\n${c.summary}\n\nOptions:\n${flagHelp(flags)}\n`;
}

/** Docker's argument-count errors. */
export function argsError(c: Command, n: number): string | undefined {
  const name = `"swarmctl ${c.path}"`;
  if (c.minArgs !== undefined && n < c.minArgs) {
    return c.minArgs === c.maxArgs
      ? `${name} requires exactly ${c.minArgs} argument${c.minArgs === 1 ? '' : 's'}.`
      : `${name} requires at least ${c.minArgs} argument${c.minArgs === 1 ? '' : 's'}.`;
  }
  if (c.maxArgs !== undefined && n > c.maxArgs) {
    return c.maxArgs === 0 ? `${name} accepts no arguments.` : `${name} requires ${c.minArgs === c.maxArgs ? 'exactly' : 'at most'} ${c.maxArgs} argument${c.maxArgs === 1 ? '' : 's'}.`;
  }
  return undefined;
}
