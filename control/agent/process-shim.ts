/**
 * The node's process shim: ONE small detached Node process per executor data directory that starts every process
 * task as its own child and supervises it (process-supervisor.ts). It outlives swarmd, so a restarted swarmd finds
 * it again (shim.pid, shim.sock in the data directory) and the exit codes of tasks that ended meanwhile are on disk.
 *
 * Run as `node process-shim.js DATADIR`. It takes the pid file as a lock (a second shim for the same directory
 * exits at once), adopts the tasks a previous shim left running, and serves `start` requests on its socket. Starts
 * that arrive together are handled as a batch: one `mkfifo` for all their pipes, then one spawn each. When a task
 * ends it writes exit.json, then tells every connected swarmd. With no task left for IDLE_MS it exits, so a node
 * that runs no process task has no shim, and removing the last task leaves no process behind.
 *
 * If the shim itself dies, the next executor request starts a new one, which adopts the still-running tasks by pid
 * and start time; their exit codes are then unknown (see process-supervisor.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { encodeMessage, JsonLineReader, shimPaths, type ShimAnswer, type ShimExitEvent, type ShimReply, type ShimRequest } from './process-shim-protocol';
import { isAlive, procStartTime, TaskFiles, type TaskExitRecord } from './process-task-files';
import { SupervisedTask, UNKNOWN_EXIT_MESSAGE } from './process-supervisor';
import { writeJsonAtomic } from './process-task-files';

export const IDLE_MS = 1000;

interface PendingStart {
  taskId: string;
  replies: ((r: ShimAnswer) => void)[];
}

export class ProcessShim {
  private readonly tasks = new Map<string, SupervisedTask>();
  private readonly queue = new Map<string, PendingStart>();
  private readonly clients = new Set<Socket>();
  private readonly paths: ReturnType<typeof shimPaths>;
  private server: Server | undefined;
  private flushing = false;
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly dataDir: string) {
    this.paths = shimPaths(dataDir);
  }

  /** Takes the lock, adopts, listens. Resolves false when another live shim already serves this directory. */
  async start(): Promise<boolean> {
    mkdirSync(join(this.dataDir, 'tasks'), { recursive: true });
    if (!this.lock()) return false;
    this.adoptAll();
    if (existsSync(this.paths.socket)) unlinkSync(this.paths.socket);
    this.server = createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => this.server!.once('error', reject).listen(this.paths.socket, resolve));
    this.checkIdle();
    return true;
  }

  /** The pid file, created exclusively; a stale one (its pid gone or reused) is replaced. */
  private lock(): boolean {
    const me = JSON.stringify({ pid: process.pid, startTime: procStartTime(process.pid) ?? '' });
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.paths.pid, 'wx', 0o600);
        writeSync(fd, me + '\n');
        closeSync(fd);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let other: { pid?: number; startTime?: string } = {};
      try {
        other = JSON.parse(readFileSync(this.paths.pid, 'utf8'));
      } catch {
        /* half written or gone: treat as stale */
      }
      if (isAlive(other.pid, other.startTime)) return false;
      try {
        unlinkSync(this.paths.pid);
      } catch {
        /* another shim replaced it first: try again */
      }
    }
    return false;
  }

  /** Tasks with a live process and no exit.json were a previous shim's: supervise them; dead ones get their end recorded. */
  private adoptAll(): void {
    const root = join(this.dataDir, 'tasks');
    for (const id of readdirSync(root)) {
      const files = new TaskFiles(join(root, id));
      try {
        const state = files.readState();
        if (!state || files.readExit()) continue;
        if (isAlive(state.supervisorPid, state.supervisorStartTime) && state.supervisorPid !== process.pid) continue; // still supervised
        if (isAlive(state.pid, state.startTime)) {
          this.tasks.set(id, SupervisedTask.adopt(files.dir, state, (t, exit) => this.ended(t, exit)));
        } else {
          writeJsonAtomic(files.exitPath, { exitCode: 255, message: UNKNOWN_EXIT_MESSAGE, finishedAt: new Date().toISOString() });
        }
      } catch (e) {
        process.stderr.write(`shoal shim: cannot adopt task ${id}: ${(e as Error).message}\n`);
      }
    }
  }

  private serve(sock: Socket): void {
    this.clients.add(sock);
    const reader = new JsonLineReader<ShimRequest>(
      (req) => this.handle(req, (r) => sock.writable && sock.write(encodeMessage({ id: req.id, ...r } as ShimReply))),
      (line) => process.stderr.write(`shoal shim: unreadable request ${line.slice(0, 200)}\n`),
    );
    sock.on('data', (b) => reader.push(b));
    sock.on('error', () => undefined);
    sock.on('close', () => this.clients.delete(sock));
  }

  private handle(req: ShimRequest, reply: (r: ShimAnswer) => void): void {
    if (req.op === 'ping') return reply({ ok: true, pid: process.pid });
    if (req.op !== 'start' || !/^[A-Za-z0-9_.-]+$/.test(req.taskId ?? '')) return reply({ ok: false, error: `bad request ${JSON.stringify(req)}` });
    const running = this.tasks.get(req.taskId);
    if (running) return reply({ ok: true, state: running.state });
    const pending = this.queue.get(req.taskId) ?? { taskId: req.taskId, replies: [] };
    pending.replies.push(reply);
    this.queue.set(req.taskId, pending);
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
    setImmediate(() => void this.flush());
  }

  /** Starts every queued task: one mkfifo for the batch's missing pipes, then a spawn each. */
  private async flush(): Promise<void> {
    if (this.flushing || this.queue.size === 0) return;
    this.flushing = true;
    try {
      const batch = [...this.queue.values()];
      this.queue.clear();
      const dirs = batch.map((p) => new TaskFiles(join(this.dataDir, 'tasks', p.taskId)));
      const fifos = dirs.flatMap((f) => [f.stdoutPipePath, f.stderrPipePath]).filter((p) => !existsSync(p));
      const mkfifoError = fifos.length ? await mkfifo(fifos) : undefined;
      batch.forEach((p, i) => {
        const running = this.tasks.get(p.taskId);
        if (running) return p.replies.forEach((r) => r({ ok: true, state: running.state }));
        if (!existsSync(dirs[i].launchPath)) return p.replies.forEach((r) => r({ ok: false, error: 'task directory has no launch.json' }));
        if (mkfifoError && !(existsSync(dirs[i].stdoutPipePath) && existsSync(dirs[i].stderrPipePath))) {
          return p.replies.forEach((r) => r({ ok: false, error: `cannot make the task's output pipes: ${mkfifoError}` }));
        }
        const t = SupervisedTask.start(dirs[i].dir, (task, exit) => this.ended(task, exit));
        if (t.state) this.tasks.set(p.taskId, t);
        const exit = t.state ? undefined : dirs[i].readExit();
        p.replies.forEach((r) => r({ ok: true, state: t.state, exit }));
      });
    } finally {
      this.flushing = false;
    }
    if (this.queue.size) setImmediate(() => void this.flush());
    else this.checkIdle();
  }

  private ended(task: SupervisedTask, exit: TaskExitRecord): void {
    const id = task.taskId;
    if (this.tasks.get(id) === task) this.tasks.delete(id);
    const msg = encodeMessage({ event: 'exit', taskId: id, exit } satisfies ShimExitEvent);
    for (const c of this.clients) if (c.writable) c.write(msg);
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.tasks.size || this.queue.size || this.flushing || this.idle) return;
    this.idle = setTimeout(() => {
      this.idle = undefined;
      if (this.tasks.size || this.queue.size || this.flushing) return;
      this.stop();
    }, IDLE_MS);
  }

  /** Leaves: the socket and pid file go first, so a client that reconnects starts a fresh shim. */
  stop(): void {
    for (const p of [this.paths.socket, this.paths.pid]) {
      try {
        unlinkSync(p);
      } catch {
        /* already gone */
      }
    }
    this.server?.close();
    for (const c of this.clients) c.destroy();
    process.exit(0);
  }
}

function mkfifo(paths: string[]): Promise<string | undefined> {
  return new Promise((resolve) =>
    execFile('mkfifo', ['-m', '600', '--', ...paths], (err, _out, stderr) => resolve(err ? String(stderr).trim() || err.message : undefined)),
  );
}

if (require.main === module) {
  process.on('SIGHUP', () => undefined);
  process.on('SIGPIPE', () => undefined);
  const shim = new ProcessShim(process.argv[2]);
  shim.start().then(
    (started) => {
      if (!started) process.exit(0);
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => shim.stop());
    },
    (e) => {
      process.stderr.write(`shoal shim: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
