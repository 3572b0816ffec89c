/**
 * One lifecycle for every long-lived part: start() brings it up (and may watch the store), stop() releases
 * everything it holds. A ComponentGroup starts its members in order and stops them in reverse, so the daemon
 * entry is the only place that wires things together.
 */
export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class ComponentGroup implements Component {
  private started: Component[] = [];
  constructor(
    readonly name: string,
    private readonly members: Component[],
  ) {}

  async start(): Promise<void> {
    for (const c of this.members) {
      try {
        await c.start();
      } catch (e) {
        await this.stop();
        throw e;
      }
      this.started.push(c);
    }
  }

  async stop(): Promise<void> {
    const errors: unknown[] = [];
    while (this.started.length) {
      const c = this.started.pop()!;
      try {
        await c.stop();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw errors[0];
  }
}
