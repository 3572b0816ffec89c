#!/usr/bin/env node
/**
 * swarmctl, the CLI: finds the command from the first words of argv, parses its flags (all checks happen here,
 * before any request), runs it against the daemon chosen by -H/--host or SWARMD_HOST, and prints errors in
 * docker's words: "Error: ..." for usage mistakes, "Error response from daemon: ..." for refusals, template
 * errors and converge errors as they are. Exit status 1 on any error.
 */
import { errorMessage } from '../base/errors';
import { Client, ConnectError, DaemonError, DEFAULT_HOST } from './client';
import { argsError, commandHelp, HELP_FLAG, PlainError, type Command, type CommandContext } from './commands/command';
import { onInterrupt } from './converge';
import { ALIASES, COMMANDS } from './commands/index';
import { parseFlags, UsageError } from './flags';
import { FormatError } from './formatter';

export const VERSION = '0.1.0';
export const API_VERSION = '1.41';

const GROUPS: Record<string, string> = {
  swarm: 'Manage Swarm',
  service: 'Manage services',
  node: 'Manage Swarm nodes',
  network: 'Manage networks',
};

function mainHelp(): string {
  let s = '\nUsage:  swarmctl [OPTIONS] COMMAND\n\nSwarm mode, rebuilt: manage a Shoal swarm\n\nOptions:\n';
  s += `  -H, --host string   Daemon socket to connect to (default ${DEFAULT_HOST}, env SWARMD_HOST)\n`;
  s += '  -v, --version       Print version information and quit\n\nManagement Commands:\n';
  for (const [g, d] of Object.entries(GROUPS)) s += `  ${g.padEnd(10)}${d}\n`;
  s += '\nCommands:\n  version   Show the swarmctl version information\n';
  s += "\nRun 'swarmctl COMMAND --help' for more information on a command.\n";
  return s;
}

function groupHelp(group: string): string {
  let s = `\nUsage:  swarmctl ${group} COMMAND\n\n${GROUPS[group]}\n\nCommands:\n`;
  for (const c of COMMANDS.filter((c) => c.path.startsWith(group + ' '))) s += `  ${c.path.split(' ')[1].padEnd(12)}${c.summary}\n`;
  s += `\nRun 'swarmctl ${group} COMMAND --help' for more information on a command.\n`;
  return s;
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  tty: boolean;
  env: (name: string) => string | undefined;
  now?: () => number;
  /** Builds the API client; tests pass a fake. */
  client?: (host: string) => Client;
}

/** Runs one command line; returns the exit status. */
export async function run(argv: string[], io: Io): Promise<number> {
  let host = io.env('SWARMD_HOST') || DEFAULT_HOST;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-H' || a === '--host') host = argv[++i] ?? host;
    else if (a.startsWith('--host=')) host = a.slice('--host='.length);
    else if (a.startsWith('-H') && a.length > 2) host = a.slice(2);
    else if (a === '-v' || a === '--version') {
      io.out(`swarmctl version ${VERSION}, API ${API_VERSION}\n`);
      return 0;
    } else if (a === '--help' || a === '-h') {
      io.out(mainHelp());
      return 0;
    } else if (a.startsWith('-')) {
      io.err(`Error: unknown flag: ${a}\nSee 'swarmctl --help'.\n`);
      return 1;
    } else break;
  }
  const words = argv.slice(i);
  if (words.length === 0) {
    io.out(mainHelp());
    return 0;
  }
  const client = (io.client ?? ((h) => new Client(h)))(host);
  try {
    if (words[0] === 'version') return await version(client, io);
    const group = words[0];
    if (!GROUPS[group]) {
      io.err(`Error: unknown command "${group}" for "swarmctl"\nRun 'swarmctl --help' for usage.\n`);
      return 1;
    }
    const sub = ALIASES[words[1] ?? ''] ?? words[1];
    if (!sub || sub === '--help' || sub === '-h') {
      io.out(groupHelp(group));
      return 0;
    }
    const cmd = COMMANDS.find((c) => c.path === `${group} ${sub}`);
    if (!cmd) {
      io.err(`Error: unknown command "${sub}" for "swarmctl ${group}"\nRun 'swarmctl ${group} --help' for usage.\n`);
      return 1;
    }
    return await runCommand(cmd, words.slice(2), io, client);
  } finally {
    await client.close().catch(() => undefined);
  }
}

async function runCommand(cmd: Command, argv: string[], io: Io, client: Client): Promise<number> {
  const ctx: CommandContext = {
    client,
    out: io.out,
    err: io.err,
    tty: io.tty,
    now: io.now ?? Date.now,
    env: io.env,
    interrupt: onInterrupt,
  };
  try {
    const flags = parseFlags([...cmd.flags, HELP_FLAG], argv, { stopAtPositional: cmd.stopAtPositional });
    if (flags.bool('help')) {
      io.out(commandHelp(cmd));
      return 0;
    }
    const bad = argsError(cmd, flags.args.length);
    if (bad) throw new UsageError(`${bad}\nSee 'swarmctl ${cmd.path} --help'.\n\nUsage:  swarmctl ${cmd.usage}\n\n${cmd.summary}`);
    return await cmd.run(ctx, flags);
  } catch (e) {
    io.err(describeError(e, cmd) + '\n');
    return e instanceof PlainError ? e.status : 1;
  }
}

export function describeError(e: unknown, cmd?: Command): string {
  if (e instanceof UsageError) {
    const see = cmd && !e.message.includes('See ') ? `\nSee 'swarmctl ${cmd.path} --help'.` : '';
    return `Error: ${e.message}${see}`;
  }
  if (e instanceof DaemonError) return `Error response from daemon: ${e.message}`;
  if (e instanceof PlainError || e instanceof FormatError) return e.message;
  if (e instanceof ConnectError) return e.message;
  return `Error: ${errorMessage(e)}`;
}

async function version(client: Client, io: Io): Promise<number> {
  io.out(`Client:\n Version:           ${VERSION}\n API version:       ${API_VERSION}\n Node.js version:   ${process.version}\n OS/Arch:           ${process.platform}/${process.arch}\n`);
  try {
    const v = await client.version();
    io.out(`\nServer:\n Engine:\n  Version:          ${String(v.Version ?? '')}\n  API version:      ${String(v.ApiVersion ?? '')}\n`);
    return 0;
  } catch (e) {
    io.err(describeError(e) + '\n');
    return 1;
  }
}

if (require.main === module) {
  // A reader that goes away (`swarmctl service logs web | head`) ends us quietly, as it ends docker.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  run(process.argv.slice(2), {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    tty: !!process.stdout.isTTY,
    env: (n) => process.env[n],
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(describeError(e) + '\n');
      process.exitCode = 1;
    },
  );
}
