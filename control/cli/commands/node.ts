/**
 * `node ls | inspect | update | ps | rm | promote | demote`. "self" is not special on the API, so it is turned
 * into this node's ID from /info first; `node ls` marks that node with "*". Updates read the node and send its
 * changed spec with the version read.
 */
import type { Node, NodeSpec } from '../../api/types';
import { filtersFrom } from '../client';
import { compile } from '../formatter';
import { UsageError, type FlagDef } from '../flags';
import { prettyNode } from '../pretty-node';
import { renderNodeList } from '../render-node';
import { unescapeFormat } from '../template';
import { PlainError, type Command, type CommandContext } from './command';
import { INSPECT_FLAGS, inspectEach, PS_FLAGS, printTasks, selfNodeId } from './service-query';

const f = (name: string, type: FlagDef['type'], help: string, short?: string): FlagDef => ({ name, type, help, short });

async function resolveNode(ctx: CommandContext, ref: string): Promise<string> {
  return ref === 'self' ? selfNodeId(ctx) : ref;
}

export const nodeLs: Command = {
  path: 'node ls',
  usage: 'node ls [OPTIONS]',
  summary: 'List nodes in the swarm',
  flags: [f('filter', 'list', 'Filter output based on conditions provided', 'f'), f('format', 'string', 'Pretty-print nodes using a Go template'), f('quiet', 'bool', 'Only display IDs', 'q')],
  maxArgs: 0,
  async run(ctx, flags) {
    const filters = filtersFrom(flags.list('filter'));
    const format = flags.str('format');
    if (format) compile(unescapeFormat(format).replace(/^table/, ''));
    const [nodes, self] = await Promise.all([ctx.client.nodes(filters), selfNodeId(ctx)]);
    const trustRoot = format?.includes('TLSStatus') ? (await ctx.client.swarmInspect()).TLSInfo?.TrustRoot : undefined;
    ctx.out(renderNodeList(nodes, self, { format, quiet: flags.bool('quiet'), trustRoot }));
    return 0;
  },
};

export const nodeInspect: Command = {
  path: 'node inspect',
  usage: 'node inspect [OPTIONS] self|NODE [NODE...]',
  summary: 'Display detailed information on one or more nodes',
  flags: INSPECT_FLAGS,
  minArgs: 1,
  async run(ctx, flags) {
    if (flags.bool('pretty') && flags.changed('format')) throw new PlainError('Error: --format is incompatible with human friendly format');
    const pretty = flags.bool('pretty') ? async (items: Node[]) => items.map(prettyNode).join('\n') : undefined;
    return inspectEach(ctx, flags.args, async (n) => ctx.client.node(await resolveNode(ctx, n)), 'node', flags.str('format'), pretty);
  },
};

/** Applies node update flags to a spec; pure, so values are checked before anything is sent. */
export function applyNodeFlags(spec: NodeSpec, flags: { availability?: string; role?: string; labelAdd: string[]; labelRm: string[] }): NodeSpec {
  const out: NodeSpec = JSON.parse(JSON.stringify(spec));
  if (flags.availability !== undefined) {
    if (!['active', 'pause', 'drain'].includes(flags.availability)) {
      throw new UsageError(`invalid argument "${flags.availability}" for "--availability" flag: must be "active", "pause" or "drain"`);
    }
    out.Availability = flags.availability as NodeSpec['Availability'];
  }
  if (flags.role !== undefined) {
    if (!['worker', 'manager'].includes(flags.role)) throw new UsageError(`invalid argument "${flags.role}" for "--role" flag: must be "worker" or "manager"`);
    out.Role = flags.role as NodeSpec['Role'];
  }
  if (flags.labelAdd.length || flags.labelRm.length) {
    const labels = { ...(out.Labels ?? {}) };
    for (const k of flags.labelRm) {
      if (!(k in labels)) throw new PlainError(`key ${k} doesn't exist in node's labels`);
      delete labels[k];
    }
    for (const kv of flags.labelAdd) {
      const eq = kv.indexOf('=');
      if (eq === 0 || kv === '') throw new UsageError(`invalid argument "${kv}" for "--label-add" flag: use key=value`);
      labels[eq < 0 ? kv : kv.slice(0, eq)] = eq < 0 ? '' : kv.slice(eq + 1);
    }
    out.Labels = labels;
  }
  return out;
}

async function updateNode(ctx: CommandContext, ref: string, change: (spec: NodeSpec) => NodeSpec): Promise<Node> {
  const node = await ctx.client.node(await resolveNode(ctx, ref));
  await ctx.client.nodeUpdate(node.ID, node.Version.Index, change(node.Spec));
  return node;
}

export const nodeUpdate: Command = {
  path: 'node update',
  usage: 'node update [OPTIONS] NODE',
  summary: 'Update a node',
  flags: [
    f('availability', 'string', 'Availability of the node ("active"|"pause"|"drain")'),
    f('label-add', 'list', 'Add or update a node label (key=value)'),
    f('label-rm', 'list', 'Remove a node label if exists'),
    f('role', 'string', 'Role of the node ("worker"|"manager")'),
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, flags) {
    const opts = { availability: flags.str('availability'), role: flags.str('role'), labelAdd: flags.list('label-add'), labelRm: [] as string[] };
    applyNodeFlags({ Role: 'worker', Availability: 'active' }, opts); // check values before the first request
    await updateNode(ctx, flags.args[0], (spec) => applyNodeFlags(spec, { ...opts, labelRm: flags.list('label-rm') }));
    ctx.out(`${flags.args[0]}\n`);
    return 0;
  },
};

function roleCommand(role: 'manager' | 'worker'): Command {
  const promote = role === 'manager';
  return {
    path: promote ? 'node promote' : 'node demote',
    usage: `node ${promote ? 'promote' : 'demote'} NODE [NODE...]`,
    summary: promote ? 'Promote one or more nodes to manager in the swarm' : 'Demote one or more nodes from manager in the swarm',
    flags: [],
    minArgs: 1,
    async run(ctx, flags) {
      for (const ref of flags.args) {
        const node = await ctx.client.node(await resolveNode(ctx, ref));
        if (node.Spec.Role === role) {
          ctx.out(promote ? `Node ${ref} is already a manager.\n` : `Node ${ref} is already a worker.\n`);
          continue;
        }
        await ctx.client.nodeUpdate(node.ID, node.Version.Index, { ...node.Spec, Role: role });
        ctx.out(promote ? `Node ${ref} promoted to a manager in the swarm.\n` : `Manager ${ref} demoted in the swarm.\n`);
      }
      return 0;
    },
  };
}
export const nodePromote = roleCommand('manager');
export const nodeDemote = roleCommand('worker');

export const nodePs: Command = {
  path: 'node ps',
  usage: 'node ps [OPTIONS] [NODE...]',
  summary: 'List tasks running on one or more nodes, defaults to current node',
  flags: PS_FLAGS,
  async run(ctx, flags) {
    const filters = filtersFrom(flags.list('filter'));
    const refs = flags.args.length ? flags.args : ['self'];
    const ids: string[] = [];
    for (const ref of refs) ids.push((await ctx.client.node(await resolveNode(ctx, ref))).ID);
    filters.node = ids;
    await printTasks(ctx, filters, { noTrunc: flags.bool('no-trunc'), noResolve: flags.bool('no-resolve'), format: flags.str('format'), quiet: flags.bool('quiet') });
    return 0;
  },
};

export const nodeRm: Command = {
  path: 'node rm',
  usage: 'node rm [OPTIONS] NODE [NODE...]',
  summary: 'Remove one or more nodes from the swarm',
  flags: [f('force', 'bool', 'Force remove a node from the swarm', 'f')],
  minArgs: 1,
  async run(ctx, flags) {
    for (const ref of flags.args) {
      await ctx.client.nodeRemove(await resolveNode(ctx, ref), flags.bool('force'));
      ctx.out(`${ref}\n`);
    }
    return 0;
  },
};
