/**
 * The Docker Engine API v1.41 swarm subset, route by route, over the daemon's backend. Paths, query parameters,
 * status codes and bodies are Docker's, so both swarmctl and the real docker CLI work against the socket.
 */
import type { ServerResponse } from 'node:http';
import { ShoalError } from '../../base/errors';
import type { Network, Service, Task } from '../../api/types';
import { isTerminal } from '../../api/task-state';
import type { ControlApi } from './control-api';
import { HANDLED, Router, send, type Request } from './router';

export interface Backend {
  /** The control API, or a 503 "not a swarm manager" error when this node is in no swarm. */
  control(): ControlApi;
  active(): boolean;
  info(): Promise<object>;
  version(): object;
  init(body: unknown): Promise<string>;
  leave(force: boolean): Promise<void>;
  /** Writes the logs of a service or task (Docker's multiplexed stream) and ends the response. */
  logs(kind: 'service' | 'task', ref: string, req: Request, res: ServerResponse): Promise<void>;
}

export function buildRouter(router: Router, b: Backend): Router {
  const bool = (v: string | null): boolean => v === '1' || v === 'true' || v === 'True';

  router
    .on('GET', '/_ping', (_req, res) => {
      res.setHeader('OSType', 'linux');
      res.setHeader('Docker-Experimental', 'false');
      res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
      res.setHeader('Swarm', b.active() ? 'active/manager' : 'inactive');
      send(res, 200, 'OK');
      return HANDLED;
    })
    .on('GET', '/version', () => b.version())
    .on('GET', '/info', () => b.info())

    .on('POST', '/swarm/init', async (req, res) => {
      // Docker answers with the node ID as a JSON string.
      const body = (await req.body()) as { Availability?: string } | undefined;
      // The docker CLI sends Availability "" unless --availability is given; Docker's daemon reads that as active.
      if (body && body.Availability === '') delete body.Availability;
      send(res, 200, JSON.stringify(await b.init(body)), 'application/json');
      return HANDLED;
    })
    .on('GET', '/swarm', () => b.control().getSwarm())
    .on('POST', '/swarm/leave', async (req, res) => {
      await b.leave(bool(req.query.get('force')));
      send(res, 200, null);
      return HANDLED;
    })
    .on('POST', '/swarm/join', () => {
      throw new ShoalError('unavailable', 'joining an existing swarm needs the cluster PKI (mutual TLS and join-token checks), which this build does not have yet: run swarmctl swarm init to make this node a single-node swarm');
    })
    .on('GET', '/swarm/unlockkey', () => ({ UnlockKey: '' }))
    // docker swarm update and docker swarm join-token --rotate send the whole spec here.
    .on('POST', '/swarm/update', async (req) => {
      const rotate = { worker: bool(req.query.get('rotateWorkerToken')), manager: bool(req.query.get('rotateManagerToken')) };
      await b.control().updateSwarm(req.query.get('version'), await req.body(), rotate);
      return null;
    })

    .on('GET', '/nodes', (req) => b.control().listNodes(req.query.get('filters')))
    .on('GET', '/nodes/{id}', (req) => b.control().getNode(req.params.id))
    .on('DELETE', '/nodes/{id}', async (req) => {
      await b.control().removeNode(req.params.id, bool(req.query.get('force')));
      return null;
    })
    .on('POST', '/nodes/{id}/update', async (req) => {
      await b.control().updateNode(req.params.id, req.query.get('version'), await req.body());
      return null;
    })

    .on('GET', '/services', (req) => {
      const c = b.control();
      const services = c.listServices(req.query.get('filters'));
      return bool(req.query.get('status')) ? withStatus(c, services) : services;
    })
    .on('POST', '/services/create', async (req) => b.control().createService(await req.body()), 201)
    .on('GET', '/services/{id}', (req) => b.control().getService(req.params.id))
    .on('DELETE', '/services/{id}', async (req) => {
      await b.control().removeService(req.params.id);
      return null;
    })
    .on('POST', '/services/{id}/update', async (req) => {
      const rollback = req.query.get('rollback');
      const body = await req.body();
      return b.control().updateService(req.params.id, req.query.get('version'), body, rollback);
    })
    .on('GET', '/services/{id}/logs', async (req, res) => {
      await b.logs('service', req.params.id, req, res);
      return HANDLED;
    })

    .on('GET', '/tasks', (req) => b.control().listTasks(req.query.get('filters')))
    .on('GET', '/tasks/{id}', (req) => b.control().getTask(req.params.id))
    .on('GET', '/tasks/{id}/logs', async (req, res) => {
      await b.logs('task', req.params.id, req, res);
      return HANDLED;
    })

    .on('GET', '/networks', (req) => b.control().listNetworks(req.query.get('filters')).map(networkView))
    .on('GET', '/networks/{id}', (req) => networkView(b.control().getNetwork(req.params.id)))
    .on('POST', '/networks/create', async (req) => b.control().createNetwork(await req.body()), 201)
    .on('DELETE', '/networks/{id}', async (req, res) => {
      await b.control().removeNetwork(req.params.id);
      send(res, 204, null);
      return HANDLED;
    })

    // The docker CLI asks the registry for an image digest before creating a service; there is no registry here.
    .on('GET', '/distribution/{name}/json', (req) => {
      throw new ShoalError('not-found', `no registry to resolve ${req.params.name}: the image is used as given`);
    });
  return router;
}

/** Docker's NetworkResource: the ID under "Id" (the store keys objects by "ID"), internal fields left out. */
function networkView(n: Network): object {
  const { Version: _v, VNI: _vni, ID, Name, ...rest } = n;
  // The docker CLI parses Created as an RFC 3339 time and fails on ""; Go's zero time is what Docker sends when unset.
  return { Name, Id: ID, ...rest, Created: rest.Created || '0001-01-01T00:00:00Z', Containers: rest.Containers ?? null };
}

/** ?status=true adds ServiceStatus, from which docker service ls prints REPLICAS. */
function withStatus(c: ControlApi, services: Service[]): (Service & { ServiceStatus: object })[] {
  const nodes = new Map(c.listNodes(null).map((n) => [n.ID, n]));
  return services.map((s) => {
    const tasks: Task[] = c.listTasks(JSON.stringify({ service: [s.ID] }));
    const live = tasks.filter((t) => !isTerminal(t.DesiredState) && t.DesiredState !== 'shutdown');
    const running = tasks.filter(
      (t) => t.Status.State === 'running' && t.DesiredState === 'running' && nodes.get(t.NodeID ?? '')?.Status.State !== 'down',
    ).length;
    const desired = s.Spec.Mode.Global ? live.filter((t) => t.DesiredState === 'running').length : s.Spec.Mode.Replicated?.Replicas ?? 1;
    return { ...s, ServiceStatus: { RunningTasks: running, DesiredTasks: desired, CompletedTasks: 0 } };
  });
}

