/**
 * The service commands that read or remove: ls, ps, inspect (JSON, --pretty, -f) and rm. They fetch what the
 * renderers need (task lists, node hostnames, network names, /info for "self") and hand plain objects to the
 * pure renderers; missing services are reported the way docker reports them, after whatever was found.
 */
import type { Service, Task } from '../../api/types';
import { DaemonError, filtersFrom, type Filters } from '../client';
import { inspectJson } from '../display';
import { compile, execute } from '../formatter';
import type { FlagDef } from '../flags';
import { prettyService } from '../pretty-service';
import { renderServiceList } from '../render-service';
import { renderTaskList } from '../render-task';
import { unescapeFormat } from '../template';
import { PlainError, type Command, type CommandContext } from './command';

const f = (name: string, type: FlagDef['type'], help: string, short?: string): FlagDef => ({ name, type, help, short });

export const isNotFound = (e: unknown): boolean => e instanceof DaemonError && e.status === 404;

export const serviceLs: Command = {
  path: 'service ls',
  usage: 'service ls [OPTIONS]',
  summary: 'List services',
  flags: [f('filter', 'list', 'Filter output based on conditions provided', 'f'), f('format', 'string', 'Pretty-print services using a Go template'), f('quiet', 'bool', 'Only display IDs', 'q')],
  maxArgs: 0,
  async run(ctx, flags) {
    const filters = filtersFrom(flags.list('filter'));
    if (flags.str('format')) compile(unescapeFormat(flags.str('format') as string).replace(/^table/, ''));
    const services = await ctx.client.services(filters, true);
    ctx.out(renderServiceList(services, { format: flags.str('format'), quiet: flags.bool('quiet') }));
    return 0;
  },
};

/** Prints tasks with service names and node hostnames resolved. */
export async function printTasks(ctx: CommandContext, filters: Filters, flags: { noTrunc: boolean; noResolve: boolean; format?: string; quiet: boolean }, services?: Service[]): Promise<void> {
  const tasks: Task[] = await ctx.client.tasks(filters);
  const svcs = services ?? (await ctx.client.services());
  const nodes = flags.noResolve ? [] : await ctx.client.nodes();
  ctx.out(
    renderTaskList(tasks, {
      serviceNames: new Map(svcs.map((s) => [s.ID, flags.noResolve ? s.ID : s.Spec.Name])),
      nodeNames: new Map(nodes.map((n) => [n.ID, n.Description?.Hostname ?? n.ID])),
      now: ctx.now(),
      noTrunc: flags.noTrunc,
      format: flags.format,
      quiet: flags.quiet,
    }),
  );
}

export async function selfNodeId(ctx: CommandContext): Promise<string> {
  const info = await ctx.client.info();
  if (!info.Swarm?.NodeID) throw new PlainError('Error: this node is not part of a swarm');
  return info.Swarm.NodeID;
}

export const PS_FLAGS: FlagDef[] = [
  f('filter', 'list', 'Filter output based on conditions provided', 'f'),
  f('format', 'string', 'Pretty-print tasks using a Go template'),
  f('no-resolve', 'bool', 'Do not map IDs to Names'),
  f('no-trunc', 'bool', 'Do not truncate output'),
  f('quiet', 'bool', 'Only display task IDs', 'q'),
];

export const servicePs: Command = {
  path: 'service ps',
  usage: 'service ps [OPTIONS] SERVICE [SERVICE...]',
  summary: 'List the tasks of one or more services',
  flags: PS_FLAGS,
  minArgs: 1,
  async run(ctx, flags) {
    const filters = filtersFrom(flags.list('filter'));
    if (flags.str('format')) compile(unescapeFormat(flags.str('format') as string).replace(/^table/, ''));
    const found: Service[] = [];
    const missing: string[] = [];
    for (const name of flags.args) {
      try {
        found.push(await ctx.client.service(name));
      } catch (e) {
        if (!isNotFound(e)) throw e;
        missing.push(`no such service: ${name}`);
      }
    }
    if (found.length === 0) throw new PlainError(missing.join('\n'));
    if (filters.node) filters.node = await Promise.all(filters.node.map((n) => (n === 'self' ? selfNodeId(ctx) : n)));
    filters.service = found.map((s) => s.ID);
    await printTasks(ctx, filters, { noTrunc: flags.bool('no-trunc'), noResolve: flags.bool('no-resolve'), format: flags.str('format'), quiet: flags.bool('quiet') });
    if (missing.length) throw new PlainError(missing.join('\n'));
    return 0;
  },
};

export const INSPECT_FLAGS: FlagDef[] = [
  f('format', 'string', 'Format the output using the given Go template', 'f'),
  f('pretty', 'bool', 'Print the information in a human friendly format'),
];

/** docker inspect's shape: found objects (JSON, template or pretty), then one error line per missing one. */
export async function inspectEach<T>(
  ctx: CommandContext,
  names: string[],
  get: (name: string) => Promise<T>,
  kind: string,
  format: string | undefined,
  pretty?: (items: T[]) => Promise<string>,
): Promise<number> {
  const tmpl = format ? compile(unescapeFormat(format)) : undefined;
  const items: T[] = [];
  const missing: string[] = [];
  for (const name of names) {
    try {
      items.push(await get(name));
    } catch (e) {
      if (!isNotFound(e)) throw e;
      missing.push(`Error: no such ${kind}: ${name}`);
    }
  }
  if (pretty) {
    if (items.length) ctx.out(await pretty(items));
  } else if (tmpl) {
    for (const item of items) ctx.out(execute(tmpl, item) + '\n');
  } else ctx.out(inspectJson(items));
  if (missing.length) throw new PlainError(missing.join('\n'));
  return 0;
}

export const serviceInspect: Command = {
  path: 'service inspect',
  usage: 'service inspect [OPTIONS] SERVICE [SERVICE...]',
  summary: 'Display detailed information on one or more services',
  flags: INSPECT_FLAGS,
  minArgs: 1,
  async run(ctx, flags) {
    if (flags.bool('pretty') && flags.changed('format')) throw new PlainError('Error: --format is incompatible with human friendly format');
    const pretty = flags.bool('pretty')
      ? async (items: Service[]) => {
          const nets = await ctx.client.networks().catch(() => []);
          const networkNames = new Map(nets.map((n) => [n.ID, n.Name]));
          return items.map((s) => prettyService(s, { now: ctx.now(), networkNames })).join('');
        }
      : undefined;
    return inspectEach(ctx, flags.args, (n) => ctx.client.service(n), 'service', flags.str('format'), pretty);
  },
};

export const serviceRm: Command = {
  path: 'service rm',
  usage: 'service rm SERVICE [SERVICE...]',
  summary: 'Remove one or more services',
  flags: [],
  minArgs: 1,
  async run(ctx, flags) {
    const errs: string[] = [];
    for (const name of flags.args) {
      try {
        await ctx.client.serviceRemove(name);
        ctx.out(`${name}\n`);
      } catch (e) {
        if (!(e instanceof DaemonError)) throw e;
        errs.push(`Error response from daemon: ${e.message}`);
      }
    }
    if (errs.length) throw new PlainError(errs.join('\n'));
    return 0;
  },
};
