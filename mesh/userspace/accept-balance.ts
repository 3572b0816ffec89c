/**
 * Whether a mesh worker keeps a connection it just accepted or hands it to another worker.
 *
 * The workers share one listening socket (tcp-worker-pool.ts), and the kernel wakes them all for a new
 * connection; the first to run accepts everything pending. Connections that arrive one by one spread well, but a
 * burst lands on one worker: 32 connections opened at once went 32/0, 31/1 and 28/4 in three of five tries. A
 * client pool opened at once (wrk's keep-alive connections, a database pool) then stays on one worker for its
 * whole life. Node 20 cannot fix the accept itself (no SO_REUSEPORT: libuv 1.46), so a worker holding more than
 * its share hands new connections on, through swarmd, to the least loaded worker.
 *
 * A worker's share is judged from what it knows: its own open connections now, the others' as last reported
 * through swarmd (every half second), and what it has handed on since that report (which the others now hold).
 * The slack keeps steady traffic, whose counts move a little from moment to moment, from being handed around.
 */
export class AcceptBalance {
  /** Open connections in the other workers, as last reported. */
  private others = 0;
  /** Connections handed on since that report. */
  private handedSince = 0;
  /** All connections handed on, for the worker's report. */
  handedTotal = 0;

  constructor(private workers = 1) {}

  /** The latest figures from swarmd: how many workers serve, and what the others hold. */
  update(workers: number, others: number): void {
    this.workers = workers;
    this.others = others;
    this.handedSince = 0;
  }

  /** Whether to keep a connection just accepted while `mine` others are open here; false counts it as handed on. */
  keep(mine: number): boolean {
    if (this.workers < 2) return true;
    const withIt = mine + 1;
    const fair = Math.ceil((withIt + this.others + this.handedSince) / this.workers);
    if (withIt <= fair + slack(fair)) return true;
    this.handedSince++;
    this.handedTotal++;
    return false;
  }
}

/** How far above its share a worker may go before handing on: one connection, and an eighth beyond that. */
export function slack(fair: number): number {
  return 1 + Math.floor(fair / 8);
}
