/**
 * `network create | ls | inspect | rm`. Networks here are swarm-scoped; the driver defaults to overlay since
 * swarmd has no local bridge networks to offer.
 */
import { filtersFrom } from '../client';
import { compile } from '../formatter';
import { UsageError, type FlagDef } from '../flags';
import { renderNetworkList } from '../render-network';
import { unescapeFormat } from '../template';
import { PlainError, type Command } from './command';
import { inspectEach } from './service-query';
import { DaemonError } from '../client';

const f = (name: string, type: FlagDef['type'], help: string, short?: string, def?: string): FlagDef => ({ name, type, help, short, default: def });

/** The create request docker sends, from flags; pure so bad subnets fail before anything is sent. */
export function networkCreateBody(name: string, opts: { driver?: string; subnets: string[]; attachable: boolean; internal: boolean; labels: string[] }): object {
  for (const s of opts.subnets) {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) {
      throw new UsageError(`invalid argument "${s}" for "--subnet" flag: use an IPv4 CIDR, like 10.0.9.0/24`);
    }
  }
  const labels: Record<string, string> = {};
  for (const l of opts.labels) {
    const eq = l.indexOf('=');
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  return {
    Name: name,
    CheckDuplicate: true,
    Driver: opts.driver ?? 'overlay',
    Scope: 'swarm',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: opts.subnets.map((s) => ({ Subnet: s })) },
    Internal: opts.internal,
    Attachable: opts.attachable,
    Ingress: false,
    Options: {},
    Labels: labels,
  };
}

export const networkCreate: Command = {
  path: 'network create',
  usage: 'network create [OPTIONS] NETWORK',
  summary: 'Create a network',
  flags: [
    f('driver', 'string', 'Driver to manage the Network', 'd', '"overlay"'),
    f('subnet', 'list', 'Subnet in CIDR format that represents a network segment'),
    f('attachable', 'bool', 'Enable manual container attachment'),
    f('internal', 'bool', 'Restrict external access to the network'),
    f('label', 'list', 'Set metadata on a network'),
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, flags) {
    const body = networkCreateBody(flags.args[0], {
      driver: flags.str('driver'),
      subnets: flags.list('subnet'),
      attachable: flags.bool('attachable'),
      internal: flags.bool('internal'),
      labels: flags.list('label'),
    });
    const res = await ctx.client.networkCreate(body);
    if (res.Warning) ctx.err(res.Warning + '\n');
    ctx.out(`${res.Id}\n`);
    return 0;
  },
};

export const networkLs: Command = {
  path: 'network ls',
  usage: 'network ls [OPTIONS]',
  summary: 'List networks',
  flags: [
    f('filter', 'list', 'Provide filter values (e.g. "driver=overlay")', 'f'),
    f('format', 'string', 'Pretty-print networks using a Go template'),
    f('no-trunc', 'bool', 'Do not truncate the output'),
    f('quiet', 'bool', 'Only display network IDs', 'q'),
  ],
  maxArgs: 0,
  async run(ctx, flags) {
    if (flags.str('format')) compile(unescapeFormat(flags.str('format') as string).replace(/^table/, ''));
    const nets = await ctx.client.networks(filtersFrom(flags.list('filter')));
    ctx.out(renderNetworkList(nets, { format: flags.str('format'), quiet: flags.bool('quiet'), noTrunc: flags.bool('no-trunc') }));
    return 0;
  },
};

export const networkInspect: Command = {
  path: 'network inspect',
  usage: 'network inspect [OPTIONS] NETWORK [NETWORK...]',
  summary: 'Display detailed information on one or more networks',
  flags: [f('format', 'string', 'Format the output using the given Go template', 'f')],
  minArgs: 1,
  run: (ctx, flags) => inspectEach(ctx, flags.args, (n) => ctx.client.network(n), 'network', flags.str('format')),
};

export const networkRm: Command = {
  path: 'network rm',
  usage: 'network rm NETWORK [NETWORK...]',
  summary: 'Remove one or more networks',
  flags: [],
  minArgs: 1,
  async run(ctx, flags) {
    const errs: string[] = [];
    for (const n of flags.args) {
      try {
        await ctx.client.networkRemove(n);
        ctx.out(`${n}\n`);
      } catch (e) {
        if (!(e instanceof DaemonError)) throw e;
        errs.push(`Error response from daemon: ${e.message}`);
      }
    }
    if (errs.length) throw new PlainError(errs.join('\n'));
    return 0;
  },
};
