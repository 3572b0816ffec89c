/**
 * `service logs SERVICE|TASK`: asks the daemon for details with every line so each can be prefixed with the task
 * that wrote it (`web.1.abcdef123456@node1    | `), unless --raw. Task, service and node names are looked up once
 * and cached; stderr lines go to stderr.
 */
import type { Task } from '../../api/types';
import { LogDemuxer, logPrefix, parseLogLine } from '../log-stream';
import { UsageError } from '../flags';
import { isNotFound } from './service-query';
import type { Command, CommandContext } from './command';

export const serviceLogs: Command = {
  path: 'service logs',
  usage: 'service logs [OPTIONS] SERVICE|TASK',
  summary: 'Fetch the logs of a service or task',
  flags: [
    { name: 'follow', short: 'f', type: 'bool', help: 'Follow log output' },
    { name: 'tail', short: 'n', type: 'string', help: 'Number of lines to show from the end of the logs', default: '"all"' },
    { name: 'timestamps', short: 't', type: 'bool', help: 'Show timestamps' },
    { name: 'since', type: 'string', help: 'Show logs since timestamp or relative time' },
    { name: 'no-task-ids', type: 'bool', help: 'Do not include task IDs in output' },
    { name: 'no-trunc', type: 'bool', help: 'Do not truncate output' },
    { name: 'no-resolve', type: 'bool', help: 'Do not map IDs to Names in output' },
    { name: 'raw', type: 'bool', help: 'Do not neatly format logs' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, flags) {
    const tail = flags.str('tail') ?? 'all';
    if (tail !== 'all' && !/^\d+$/.test(tail)) throw new UsageError(`invalid argument "${tail}" for "--tail" flag: use a number of lines or "all"`);
    const target = flags.args[0];
    let kind: 'services' | 'tasks' = 'services';
    try {
      await ctx.client.service(target);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await ctx.client.task(target);
      kind = 'tasks';
    }
    const timestamps = flags.bool('timestamps');
    const stream = await ctx.client.serviceLogs(target, {
      stdout: '1',
      stderr: '1',
      follow: flags.bool('follow') ? '1' : undefined,
      tail,
      since: flags.str('since'),
      timestamps: timestamps ? '1' : undefined,
      details: '1',
    }, kind);
    const demux = new LogDemuxer(stream.contentType.includes('application/vnd.docker.raw-stream'));
    const names = new Names(ctx, flags.bool('no-resolve'));
    const emit = async (line: { stream: 'stdout' | 'stderr'; text: string }): Promise<void> => {
      const p = parseLogLine(line.text, timestamps);
      const write = line.stream === 'stderr' ? ctx.err : ctx.out;
      const taskId = p.details['com.docker.swarm.task.id'];
      let prefix = '';
      if (!flags.bool('raw') && taskId) {
        const t = await names.task(taskId);
        const svc = await names.service(t?.ServiceID ?? p.details['com.docker.swarm.service.id'] ?? '');
        const nodeId = p.details['com.docker.swarm.node.id'] ?? t?.NodeID ?? '';
        const node = await names.node(nodeId);
        prefix = logPrefix(svc, t?.Slot ? String(t.Slot) : nodeId, taskId, node, { noTaskIds: flags.bool('no-task-ids'), noTrunc: flags.bool('no-trunc') });
      }
      write(`${p.timestamp ? p.timestamp + ' ' : ''}${prefix}${p.message}\n`);
    };
    const { interrupted, dispose } = ctx.interrupt();
    interrupted.then(() => stream.close());
    try {
      for await (const chunk of stream.body) for (const line of demux.push(chunk)) await emit(line);
    } catch (e) {
      if ((e as Error).name !== 'AbortError' && !String((e as Error).message).includes('aborted')) throw e;
    } finally {
      dispose();
    }
    for (const line of demux.end()) await emit(line);
    return 0;
  },
};

class Names {
  private readonly tasks = new Map<string, Task | undefined>();
  private readonly services = new Map<string, string>();
  private readonly nodes = new Map<string, string>();
  constructor(private readonly ctx: CommandContext, private readonly noResolve: boolean) {}

  async task(id: string): Promise<Task | undefined> {
    if (!this.tasks.has(id)) this.tasks.set(id, await this.ctx.client.task(id).catch(() => undefined));
    return this.tasks.get(id);
  }
  async service(id: string): Promise<string> {
    if (this.noResolve || !id) return id;
    if (!this.services.has(id)) this.services.set(id, await this.ctx.client.service(id).then((s) => s.Spec.Name, () => id));
    return this.services.get(id) as string;
  }
  async node(id: string): Promise<string> {
    if (this.noResolve || !id) return id;
    if (!this.nodes.has(id)) this.nodes.set(id, await this.ctx.client.node(id).then((n) => n.Description?.Hostname ?? id, () => id));
    return this.nodes.get(id) as string;
  }
}
