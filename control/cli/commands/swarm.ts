/**
 * `swarm init | join | join-token | leave`, with docker's texts; the join command printed names swarmctl. The
 * address in it is the manager address of this node (ManagerStatus.Addr), as docker prints.
 */
import { parseDuration } from '../../base/clock';
import { UsageError, type FlagDef } from '../flags';
import type { Command, CommandContext } from './command';
import { selfNodeId } from './service-query';

const f = (name: string, type: FlagDef['type'], help: string, short?: string, def?: string): FlagDef => ({ name, type, help, short, default: def });

async function joinCommand(ctx: CommandContext, role: 'worker' | 'manager', nodeId?: string): Promise<string> {
  const sw = await ctx.client.swarmInspect();
  const node = await ctx.client.node(nodeId ?? (await selfNodeId(ctx)));
  const token = role === 'worker' ? sw.JoinTokens.Worker : sw.JoinTokens.Manager;
  return `To add a ${role} to this swarm, run the following command:\n\n    swarmctl swarm join --token ${token} ${node.ManagerStatus?.Addr ?? ''}\n\n`;
}

export const swarmInit: Command = {
  path: 'swarm init',
  usage: 'swarm init [OPTIONS]',
  summary: 'Initialize a swarm',
  flags: [
    f('advertise-addr', 'string', 'Advertised address (format: <ip|interface>[:port])'),
    f('listen-addr', 'string', 'Listen address (format: <ip|interface>[:port])', undefined, '0.0.0.0:2377'),
    f('force-new-cluster', 'bool', 'Force create a new cluster from current state'),
    f('task-history-limit', 'int', 'Task history retention limit', undefined, '5'),
    f('dispatcher-heartbeat', 'duration', 'Dispatcher heartbeat period (ns|us|ms|s|m|h)', undefined, '5s'),
  ],
  maxArgs: 0,
  async run(ctx, flags) {
    const spec: Record<string, unknown> = {};
    if (flags.changed('task-history-limit')) spec.Orchestration = { TaskHistoryRetentionLimit: flags.num('task-history-limit') };
    if (flags.changed('dispatcher-heartbeat')) spec.Dispatcher = { HeartbeatPeriod: flags.num('dispatcher-heartbeat') };
    const nodeId = await ctx.client.swarmInit({
      ListenAddr: flags.str('listen-addr') ?? '0.0.0.0:2377',
      AdvertiseAddr: flags.str('advertise-addr') ?? '',
      ForceNewCluster: flags.bool('force-new-cluster'),
      Spec: spec,
    });
    ctx.out(`Swarm initialized: current node (${nodeId}) is now a manager.\n\n`);
    ctx.out(await joinCommand(ctx, 'worker', nodeId));
    ctx.out("To add a manager to this swarm, run 'swarmctl swarm join-token manager' and follow the instructions.\n\n");
    return 0;
  },
};

export const swarmJoin: Command = {
  path: 'swarm join',
  usage: 'swarm join [OPTIONS] HOST:PORT',
  summary: 'Join a swarm as a node and/or manager',
  flags: [
    f('token', 'string', 'Token for entry into the swarm'),
    f('advertise-addr', 'string', 'Advertised address (format: <ip|interface>[:port])'),
    f('listen-addr', 'string', 'Listen address (format: <ip|interface>[:port])', undefined, '0.0.0.0:2377'),
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, flags) {
    if (!flags.str('token')) throw new UsageError('--token is required: copy it from "swarmctl swarm join-token worker" on a manager');
    await ctx.client.swarmJoin({
      ListenAddr: flags.str('listen-addr') ?? '0.0.0.0:2377',
      AdvertiseAddr: flags.str('advertise-addr') ?? '',
      RemoteAddrs: [flags.args[0]],
      JoinToken: flags.str('token'),
    });
    const info = await ctx.client.info().catch(() => undefined);
    ctx.out(info?.Swarm?.ControlAvailable ? 'This node joined a swarm as a manager.\n' : 'This node joined a swarm as a worker.\n');
    return 0;
  },
};

export const swarmJoinToken: Command = {
  path: 'swarm join-token',
  usage: 'swarm join-token [OPTIONS] (worker|manager)',
  summary: 'Manage join tokens',
  flags: [f('quiet', 'bool', 'Only display token', 'q'), f('rotate', 'bool', 'Rotate join token')],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, flags) {
    const role = flags.args[0];
    if (role !== 'worker' && role !== 'manager') throw new UsageError(`unknown role ${role}: use worker or manager`);
    if (flags.bool('rotate')) {
      const sw = await ctx.client.swarmInspect();
      await ctx.client.swarmUpdate(sw.Version.Index, sw.Spec, { [role]: true });
      if (!flags.bool('quiet')) ctx.out(`Successfully rotated ${role} join token.\n\n`);
    }
    if (flags.bool('quiet')) {
      const sw = await ctx.client.swarmInspect();
      ctx.out(`${role === 'worker' ? sw.JoinTokens.Worker : sw.JoinTokens.Manager}\n`);
      return 0;
    }
    ctx.out(await joinCommand(ctx, role));
    return 0;
  },
};

export const swarmLeave: Command = {
  path: 'swarm leave',
  usage: 'swarm leave [OPTIONS]',
  summary: 'Leave the swarm',
  flags: [f('force', 'bool', 'Force this node to leave the swarm, ignoring warnings', 'f')],
  maxArgs: 0,
  async run(ctx, flags) {
    await ctx.client.swarmLeave(flags.bool('force'));
    ctx.out('Node left the swarm.\n');
    return 0;
  },
};

export { parseDuration };
