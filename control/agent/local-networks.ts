/**
 * Keeps this node's bridges in step with the swarm's networks: a bridge is made by the executor when a task first
 * needs it, and removed here when its network is deleted. (With several nodes this will follow the networks the
 * node's assignments mention; with one node the store says it directly.)
 */
import type { Component } from '../base/component';
import type { Logger } from '../base/log';
import type { Network } from '../api/types';
import type { Store } from '../store/store';
import type { NetworkPlumber } from '../../overlay/network-plumber';

export class LocalNetworks implements Component {
  readonly name = 'local-networks';
  private unwatch?: () => void;

  constructor(private readonly opts: { store: Store; plumber: NetworkPlumber; log: Logger }) {}

  async start(): Promise<void> {
    this.unwatch = this.opts.store.watch((events) => {
      for (const e of events) {
        if (e.kind !== 'network' || e.action !== 'delete') continue;
        const net = e.object as Network;
        this.opts.plumber
          .removeNetwork(net.ID)
          .then(() => this.opts.log.info('network bridge removed', { network: net.Name }))
          .catch((err) => this.opts.log.warn('removing a network bridge failed', { network: net.Name, err }));
      }
    });
  }

  async stop(): Promise<void> {
    this.unwatch?.();
  }
}
