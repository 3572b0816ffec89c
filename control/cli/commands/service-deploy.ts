/**
 * The service commands that change a spec and then wait for it to converge: create, update, rollback, scale.
 * Every flag and argument is checked before the first request (update dry-runs its flags against a blank spec),
 * network names become IDs as docker resolves them, and unless -d the progress waiter follows the rollout.
 */
import { networkId } from '../render-network';
import type { ServiceSpec } from '../../api/types';
import type { Client } from '../client';
import { waitForConvergence } from '../converge';
import { ParsedFlags, UsageError } from '../flags';
import { CREATE_FLAGS, UPDATE_FLAGS } from '../service-flags';
import { buildCreateSpec } from '../spec-from-flags';
import { applyUpdateFlags, specFlagsGiven } from '../update-spec';
import { PlainError, type Command, type CommandContext } from './command';

async function networkIds(client: Client, names: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const n of names) out.push(networkId(await client.network(n)));
  return out;
}

/** Follows the rollout unless -d; -q keeps waiting but prints nothing. */
export async function follow(ctx: CommandContext, flags: ParsedFlags, serviceId: string): Promise<void> {
  if (flags.bool('detach')) return;
  const { interrupted, dispose } = ctx.interrupt();
  try {
    await waitForConvergence(ctx.client, serviceId, {
      write: flags.bool('quiet') ? () => undefined : ctx.out,
      tty: ctx.tty,
      interrupted,
    });
  } catch (e) {
    if (e instanceof Error && e.name === 'ConvergeError') throw new PlainError(e.message);
    throw e;
  } finally {
    dispose();
  }
}

function warn(ctx: CommandContext, warnings: string[] | null | undefined): void {
  for (const w of warnings ?? []) ctx.err(w + '\n');
}

export const serviceCreate: Command = {
  path: 'service create',
  usage: 'service create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create a new service',
  flags: CREATE_FLAGS,
  stopAtPositional: true,
  minArgs: 1,
  async run(ctx, flags) {
    const spec = buildCreateSpec(flags, flags.args, ctx.env);
    if (spec.TaskTemplate.Networks) {
      const ids = await networkIds(ctx.client, spec.TaskTemplate.Networks.map((n) => n.Target));
      spec.TaskTemplate.Networks = ids.map((id) => ({ Target: id }));
    }
    const res = await ctx.client.serviceCreate(spec);
    warn(ctx, res.Warnings);
    ctx.out(`${res.ID}\n`);
    await follow(ctx, flags, res.ID);
    return 0;
  },
};

const BLANK: ServiceSpec = {
  Name: 'x',
  TaskTemplate: { ContainerSpec: { Image: 'x' } },
  Mode: { Replicated: { Replicas: 1 } },
};

export const serviceUpdate: Command = {
  path: 'service update',
  usage: 'service update [OPTIONS] SERVICE',
  summary: 'Update a service',
  flags: UPDATE_FLAGS,
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, flags) {
    const name = flags.args[0];
    const rollback = flags.bool('rollback');
    if (rollback && specFlagsGiven(flags).length > 0) {
      throw new UsageError(`other flags may not be combined with --rollback (got --${specFlagsGiven(flags).join(', --')})`);
    }
    applyUpdateFlags(BLANK, flags, ctx.env); // every value checked before anything is sent
    const svc = await ctx.client.service(name);
    if (flags.anyChanged('network-add', 'network-rm')) {
      flags.values.set('network-add', await networkIds(ctx.client, flags.list('network-add')));
      const rm: string[] = [];
      for (const n of flags.list('network-rm')) {
        rm.push(n);
        try {
          rm.push(networkId(await ctx.client.network(n)));
        } catch {
          /* a network that no longer exists can still be removed by its ID */
        }
      }
      flags.values.set('network-rm', rm);
    }
    const spec = rollback ? svc.Spec : applyUpdateFlags(svc.Spec, flags, ctx.env);
    const res = await ctx.client.serviceUpdate(svc.ID, svc.Version.Index, spec, rollback ? 'previous' : undefined);
    warn(ctx, res?.Warnings);
    ctx.out(`${name}\n`);
    await follow(ctx, flags, svc.ID);
    return 0;
  },
};

export const serviceRollback: Command = {
  path: 'service rollback',
  usage: 'service rollback [OPTIONS] SERVICE',
  summary: "Revert changes to a service's configuration",
  flags: UPDATE_FLAGS.filter((f) => f.name === 'detach' || f.name === 'quiet'),
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, flags) {
    const svc = await ctx.client.service(flags.args[0]);
    const res = await ctx.client.serviceUpdate(svc.ID, svc.Version.Index, svc.Spec, 'previous');
    warn(ctx, res?.Warnings);
    ctx.out(`${flags.args[0]}\n`);
    await follow(ctx, flags, svc.ID);
    return 0;
  },
};

/** "web=5" → ["web", 5]; every argument is checked before the first request. */
export function parseScaleArg(arg: string): [string, number] {
  const eq = arg.lastIndexOf('=');
  if (eq <= 0) throw new UsageError(`invalid scale specifier '${arg}': use SERVICE=REPLICAS, like web=5`);
  const n = arg.slice(eq + 1);
  if (!/^\d+$/.test(n)) throw new UsageError(`invalid replicas value "${n}" for ${arg.slice(0, eq)}: must be a non-negative integer`);
  return [arg.slice(0, eq), Number(n)];
}

export const serviceScale: Command = {
  path: 'service scale',
  usage: 'service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]',
  summary: 'Scale one or multiple replicated services',
  flags: UPDATE_FLAGS.filter((f) => f.name === 'detach'),
  minArgs: 1,
  async run(ctx, flags) {
    const targets = flags.args.map(parseScaleArg);
    const errs: string[] = [];
    const scaled: [string, string][] = [];
    for (const [name, n] of targets) {
      try {
        const svc = await ctx.client.service(name);
        if (!svc.Spec.Mode.Replicated) throw new Error('scale can only be used with replicated or replicated-job mode');
        const spec = JSON.parse(JSON.stringify(svc.Spec)) as ServiceSpec;
        spec.Mode = { Replicated: { Replicas: n } };
        const res = await ctx.client.serviceUpdate(svc.ID, svc.Version.Index, spec);
        warn(ctx, res?.Warnings);
        ctx.out(`${name} scaled to ${n}\n`);
        scaled.push([name, svc.ID]);
      } catch (e) {
        const msg = e instanceof Error && e.name === 'DaemonError' ? `Error response from daemon: ${e.message}` : (e as Error).message;
        errs.push(`${name}: ${msg}`);
      }
    }
    for (const [name, id] of scaled) {
      try {
        await follow(ctx, flags, id);
      } catch (e) {
        errs.push(`${name}: ${(e as Error).message}`);
      }
    }
    if (errs.length) throw new PlainError(errs.join('\n'));
    return 0;
  },
};
