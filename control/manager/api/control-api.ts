/**
 * The control API: what a manager lets users do to services, tasks, nodes and networks, with Docker's rules
 * and messages. It validates before it writes (bad input changes nothing), names objects by ID, name or unique
 * ID prefix, and enforces Docker's ?version= optimistic concurrency. HTTP is a thin layer above it.
 */
import { randomBytes } from 'node:crypto';
import { conflict, invalidArgument, ShoalError } from '../../base/errors';
import type { Clock } from '../../base/clock';
import { newId } from '../../api/ids';
import { isOutdated } from '../orchestrator/orchestrator';
import { rank } from '../../api/task-state';
import type { Network, Node, NodeSpec, Service, ServiceSpec, Swarm, SwarmSpec, Task } from '../../api/types';
import { normalizeNetworkCreate, normalizeNodeSpec, normalizeServiceSpec, checkUpdateAllowed } from '../../api/normalize-service';
import { edit, type ReadTx, type Store, type WriteTx } from '../../store/store';
import { matchAny, matchLabels, parseFilters } from './filters';
import { resolve } from './resolve';

/** What the control API needs from the allocator, synchronously inside its transactions. */
export interface AllocationRules {
  /** Gives a new network its subnet, gateway and VNI; throws on overlap. */
  allocateNetwork(tx: WriteTx, request: ReturnType<typeof normalizeNetworkCreate>): Network;
  /** Throws Docker's conflict error if the service's published ports are taken by another service. */
  checkPublishedPorts(tx: ReadTx, serviceId: string, spec: ServiceSpec): void;
  /** Releases a deleted network's subnet. */
  releaseNetwork(network: Network): void;
}

export class ControlApi {
  constructor(
    private readonly store: Store,
    private readonly alloc: AllocationRules,
    private readonly clock: Clock,
  ) {}

  // ---- services ---------------------------------------------------------------------------------------------

  listServices(rawFilters: string | null): Service[] {
    const f = parseFilters(rawFilters, ['id', 'label', 'mode', 'name']);
    return this.store.view((tx) =>
      tx
        .list('service')
        .filter(
          (s) =>
            matchAny(f, 'id', (v) => s.ID.startsWith(v)) &&
            matchAny(f, 'name', (v) => s.Spec.Name.startsWith(v)) &&
            matchAny(f, 'mode', (v) => (v === 'global' ? !!s.Spec.Mode.Global : v === 'replicated' && !s.Spec.Mode.Global)) &&
            matchLabels(f, 'label', s.Spec.Labels),
        )
        .sort(byCreation),
    );
  }

  getService(ref: string): Service {
    return this.store.view((tx) => resolveService(tx, ref));
  }

  async createService(body: unknown): Promise<{ ID: string; Warnings: string[] | null }> {
    const spec = this.withNetworkIds(normalizeServiceSpec(body));
    const id = newId();
    await this.store.update((tx) => {
      if (tx.byName('service', spec.Name)) throw conflict(`name conflicts with an existing object: service ${spec.Name} already exists`);
      this.alloc.checkPublishedPorts(tx, id, spec);
      const created = tx.create('service', {
        ID: id,
        Version: { Index: 0 },
        CreatedAt: '',
        UpdatedAt: '',
        Spec: spec,
        Endpoint: { Spec: structuredClone(spec.EndpointSpec ?? { Mode: 'vip' }) },
      });
      tx.update('service', { ...created, SpecVersion: { Index: created.Version.Index } });
    });
    return { ID: id, Warnings: null };
  }

  async updateService(ref: string, version: string | null, body: unknown, rollback: string | null): Promise<{ Warnings: string[] | null }> {
    const index = parseVersion(version);
    const nextSpec = rollback === 'previous' ? undefined : this.withNetworkIds(normalizeServiceSpec(body));
    if (rollback !== null && rollback !== 'previous' && rollback !== '') {
      throw invalidArgument('rollback', `invalid rollback value "${rollback}": use rollback=previous`);
    }
    await this.store.update((tx) => {
      const current = resolveService(tx, ref);
      if (current.Version.Index !== index) {
        throw conflict(`update out of sequence: service ${current.Spec.Name} is at version ${current.Version.Index}, the update was based on ${index}`);
      }
      const s = edit(current);
      if (nextSpec === undefined) {
        if (!current.PreviousSpec) throw new ShoalError('failed-precondition', `service ${current.Spec.Name} does not have a previous spec`);
        s.Spec = current.PreviousSpec;
        s.PreviousSpec = current.Spec;
        s.PreviousSpecVersion = current.SpecVersion;
        s.UpdateStatus = { State: 'rollback_started', StartedAt: new Date(this.clock.now()).toISOString(), Message: 'manually requested rollback' };
      } else {
        checkUpdateAllowed(current.Spec, nextSpec);
        this.alloc.checkPublishedPorts(tx, current.ID, nextSpec);
        s.PreviousSpec = current.Spec;
        s.PreviousSpecVersion = current.SpecVersion;
        s.Spec = nextSpec;
        delete s.UpdateStatus; // a new update clears a paused one, as Docker does
      }
      s.Endpoint = { ...s.Endpoint, Spec: structuredClone(s.Spec.EndpointSpec ?? { Mode: 'vip' }) };
      const written = tx.update('service', s);
      tx.update('service', { ...written, SpecVersion: { Index: written.Version.Index } });
    });
    return { Warnings: null };
  }

  async removeService(ref: string): Promise<void> {
    await this.store.update((tx) => {
      const s = resolveService(tx, ref);
      tx.delete('service', s.ID);
      for (const t of tx.tasksByService(s.ID)) {
        if (rank(t.DesiredState) >= rank('remove')) continue;
        tx.update('task', { ...t, DesiredState: 'remove' });
      }
    });
  }

  // ---- tasks ------------------------------------------------------------------------------------------------

  listTasks(rawFilters: string | null): Task[] {
    const f = parseFilters(rawFilters, ['id', 'name', 'service', 'node', 'desired-state', 'label', '_up-to-date']);
    for (const v of f.get('desired-state') ?? []) {
      if (!['running', 'shutdown', 'accepted'].includes(v)) {
        throw invalidArgument('filters', `invalid filter 'desired-state=${v}': use running, shutdown or accepted`);
      }
    }
    return this.store.view((tx) => {
      const services = f.get('service')?.map((ref) => tryResolve(() => resolveService(tx, ref))?.ID ?? ref);
      const nodes = f.get('node')?.map((ref) => tryResolve(() => resolveNode(tx, ref))?.ID ?? ref);
      const serviceNames = new Map(tx.list('service').map((s) => [s.ID, s.Spec.Name]));
      const upToDate = f.get('_up-to-date')?.includes('true');
      let tasks = services ? services.flatMap((id) => tx.tasksByService(id)) : tx.list('task');
      tasks = tasks.filter(
        (t) =>
          (!nodes || nodes.includes(t.NodeID ?? '')) &&
          matchAny(f, 'id', (v) => t.ID.startsWith(v)) &&
          matchAny(f, 'name', (v) => displayTaskName(t, serviceNames).startsWith(v)) &&
          matchAny(f, 'desired-state', (v) => desiredMatches(t, v)) &&
          matchLabels(f, 'label', t.Labels) &&
          (!upToDate || !isOutdatedFor(tx, t)),
      );
      return tasks.sort(byCreation);
    });
  }

  getTask(ref: string): Task {
    return this.store.view((tx) => resolve('task', ref, tx.list('task'), () => undefined));
  }

  // ---- nodes ------------------------------------------------------------------------------------------------

  listNodes(rawFilters: string | null): Node[] {
    const f = parseFilters(rawFilters, ['id', 'label', 'node.label', 'membership', 'name', 'role']);
    return this.store.view((tx) =>
      tx
        .list('node')
        .filter(
          (n) =>
            matchAny(f, 'id', (v) => n.ID.startsWith(v)) &&
            matchAny(f, 'name', (v) => (n.Spec.Name ?? n.Description.Hostname).startsWith(v) || n.Description.Hostname.startsWith(v)) &&
            matchAny(f, 'role', (v) => n.Spec.Role === v) &&
            matchAny(f, 'membership', (v) => v === 'accepted') &&
            matchLabels(f, 'label', n.Description.Engine.Labels) &&
            matchLabels(f, 'node.label', n.Spec.Labels),
        )
        .sort(byCreation),
    );
  }

  getNode(ref: string): Node {
    return this.store.view((tx) => resolveNode(tx, ref));
  }

  async updateNode(ref: string, version: string | null, body: unknown): Promise<void> {
    const index = parseVersion(version);
    const spec: NodeSpec = normalizeNodeSpec(body);
    await this.store.update((tx) => {
      const current = resolveNode(tx, ref);
      if (current.Version.Index !== index) {
        throw conflict(`update out of sequence: node ${current.Description.Hostname} is at version ${current.Version.Index}, the update was based on ${index}`);
      }
      if (current.Spec.Role === 'manager' && spec.Role === 'worker') {
        const managers = tx.list('node').filter((n) => n.Spec.Role === 'manager');
        if (managers.length <= 1) throw new ShoalError('failed-precondition', 'attempting to demote the last manager of the swarm');
      }
      if (current.Spec.Role === 'worker' && spec.Role === 'manager') {
        throw new ShoalError('failed-precondition', `promoting node ${current.Description.Hostname} needs a multi-manager swarm, which this build does not run yet`);
      }
      const n = edit(current);
      n.Spec = spec;
      tx.update('node', n);
    });
  }

  async removeNode(ref: string, force: boolean): Promise<void> {
    await this.store.update((tx) => {
      const node = resolveNode(tx, ref);
      if (node.Spec.Role === 'manager') {
        throw new ShoalError('failed-precondition', `node ${node.ID} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`);
      }
      if (node.Status.State !== 'down' && !force) {
        throw new ShoalError('failed-precondition', `node ${node.ID} is not down and can't be removed`);
      }
      for (const t of tx.tasksByNode(node.ID)) {
        if (rank(t.Status.State) >= rank('complete')) continue;
        const copy = edit(t);
        copy.Status = { Timestamp: new Date(this.clock.now()).toISOString(), State: 'orphaned', Message: 'Task belonged to a node that has been deleted' };
        tx.update('task', copy);
      }
      tx.delete('node', node.ID);
    });
  }

  // ---- networks ---------------------------------------------------------------------------------------------

  listNetworks(rawFilters: string | null): Network[] {
    const f = parseFilters(rawFilters, ['id', 'name', 'driver', 'label', 'scope', 'type']);
    return this.store.view((tx) =>
      tx
        .list('network')
        .filter(
          (n) =>
            matchAny(f, 'id', (v) => n.ID.startsWith(v)) &&
            matchAny(f, 'name', (v) => n.Name.includes(v)) &&
            matchAny(f, 'driver', (v) => n.Driver === v) &&
            matchAny(f, 'scope', (v) => n.Scope === v) &&
            matchLabels(f, 'label', n.Labels),
        )
        .sort((a, b) => a.Created.localeCompare(b.Created)),
    );
  }

  getNetwork(ref: string): Network {
    return this.store.view((tx) => resolveNetwork(tx, ref));
  }

  async createNetwork(body: unknown): Promise<{ Id: string; Warning: string }> {
    const request = normalizeNetworkCreate(body);
    const network = await this.store.update((tx) => {
      if (tx.byName('network', request.Name)) throw conflict(`network with name ${request.Name} already exists`);
      return tx.create('network', this.alloc.allocateNetwork(tx, request));
    });
    return { Id: network.ID, Warning: '' };
  }

  async removeNetwork(ref: string): Promise<void> {
    const removed = await this.store.update((tx) => {
      const net = resolveNetwork(tx, ref);
      const users = tx
        .list('service')
        .filter((s) => (s.Spec.TaskTemplate.Networks ?? []).some((n) => n.Target === net.ID) || (net.Ingress && hasIngressPorts(s)));
      if (users.length) {
        throw conflict(`network ${net.Name} is in use by service ${users.map((s) => s.Spec.Name).join(', ')}: remove or update those services first`);
      }
      tx.delete('network', net.ID);
      return net;
    });
    this.alloc.releaseNetwork(removed);
  }

  // ---- swarm ------------------------------------------------------------------------------------------------

  getSwarm(): Swarm {
    const cluster = this.store.view((tx) => tx.list('cluster')[0]);
    if (!cluster) throw new ShoalError('not-a-manager', 'This node is not a swarm manager.');
    return cluster;
  }

  /**
   * Docker's POST /swarm/update (docker swarm update, docker swarm join-token --rotate): the body is the whole
   * SwarmSpec, written against ?version=; a section the body leaves out keeps its current value.
   */
  async updateSwarm(version: string | null, body: unknown, rotate: { worker: boolean; manager: boolean }): Promise<void> {
    const index = parseVersion(version);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidArgument('body', 'the body must be a SwarmSpec object');
    const spec = body as Partial<SwarmSpec>;
    const expiry = spec.CAConfig?.NodeCertExpiry; // swarmkit's floor and message
    if (expiry !== undefined && expiry !== 0 && expiry < 3600e9) {
      throw invalidArgument('CAConfig.NodeCertExpiry', 'minimum certificate expiry time is: 1h0m0s');
    }
    await this.store.update((tx) => {
      const current = tx.list('cluster')[0];
      if (!current) throw new ShoalError('not-a-manager', 'This node is not a swarm manager.');
      if (current.Version.Index !== index) {
        throw conflict(`update out of sequence: the swarm is at version ${current.Version.Index}, the update was based on ${index}`);
      }
      const c = edit(current);
      const defined = Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined && v !== null));
      c.Spec = { ...current.Spec, ...defined, Name: current.Spec.Name };
      if (rotate.worker) c.JoinTokens.Worker = rotateToken(current.JoinTokens.Worker);
      if (rotate.manager) c.JoinTokens.Manager = rotateToken(current.JoinTokens.Manager);
      tx.update('cluster', c);
    });
  }

  /** Service network references (names or IDs) become network IDs, as Docker's daemon stores them. */
  private withNetworkIds(spec: ServiceSpec): ServiceSpec {
    const refs = spec.TaskTemplate.Networks ?? [];
    if (refs.length === 0) return spec;
    return this.store.view((tx) => {
      const networks = refs.map((n, i) => {
        const net = tryResolve(() => resolveNetwork(tx, n.Target));
        if (!net) throw invalidArgument(`TaskTemplate.Networks[${i}].Target`, `network ${n.Target} not found: create it with swarmctl network create -d overlay ${n.Target}`);
        if (net.Ingress) throw invalidArgument(`TaskTemplate.Networks[${i}].Target`, `service cannot be explicitly attached to the ingress network "${net.Name}"`);
        return { ...n, Target: net.ID };
      });
      return { ...spec, TaskTemplate: { ...spec.TaskTemplate, Networks: networks } };
    });
  }
}

export function resolveService(tx: ReadTx, ref: string): Service {
  try {
    return resolve('service', ref, tx.list('service'), (s) => s.Spec.Name);
  } catch (e) {
    if (e instanceof ShoalError && e.code === 'not-found') throw new ShoalError('not-found', `service ${ref} not found`);
    throw e;
  }
}

export function resolveNode(tx: ReadTx, ref: string): Node {
  return resolve('node', ref, tx.list('node'), (n) => n.Spec.Name || n.Description.Hostname);
}

export function resolveNetwork(tx: ReadTx, ref: string): Network {
  return resolve('network', ref, tx.list('network'), (n) => n.Name);
}

function isOutdatedFor(tx: ReadTx, t: Task): boolean {
  const service = tx.get('service', t.ServiceID);
  return !service || isOutdated(t, service);
}

function tryResolve<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function parseVersion(version: string | null): number {
  if (version === null || !/^\d+$/.test(version)) {
    throw invalidArgument('version', `invalid version "${version ?? ''}": pass ?version= with the Version.Index you read`);
  }
  return Number(version);
}

/** A new secret after the token's CA digest: SWMTKN-1-<digest>-<secret>, as swarmkit rotates it. */
function rotateToken(token: string): string {
  const secret = BigInt('0x' + randomBytes(16).toString('hex')).toString(36).padStart(25, '0');
  return `${token.slice(0, token.lastIndexOf('-'))}-${secret}`;
}

function hasIngressPorts(s: Service): boolean {
  return (s.Spec.EndpointSpec?.Ports ?? []).some((p) => (p.PublishMode ?? 'ingress') === 'ingress');
}

function desiredMatches(t: Task, v: string): boolean {
  if (v === 'running') return t.DesiredState === 'running' || t.DesiredState === 'ready';
  if (v === 'shutdown') return rank(t.DesiredState) >= rank('shutdown');
  return t.DesiredState === 'accepted';
}

function displayTaskName(t: Task, names: Map<string, string>): string {
  const service = names.get(t.ServiceID) ?? t.ServiceAnnotations?.Name ?? t.ServiceID;
  return t.Slot ? `${service}.${t.Slot}` : `${service}.${t.NodeID}`;
}

const byCreation = (a: { CreatedAt: string; ID: string }, b: { CreatedAt: string; ID: string }): number =>
  a.CreatedAt.localeCompare(b.CreatedAt) || a.ID.localeCompare(b.ID);
