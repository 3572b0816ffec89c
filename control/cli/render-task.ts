/**
 * `service ps` / `node ps` rows. Tasks are named `<service>.<slot>` (or `<service>.<nodeID>` for global
 * services), sorted by that name and newest first, and every older task of the same name is indented ` \_ `,
 * so a slot's history reads downwards. CURRENT STATE is "<State> <human duration> ago" measured against the
 * clock passed in; ERROR is quoted and cut to 30 characters unless --no-trunc.
 */
import type { Task } from '../api/types';
import { displayImage } from './display';
import { renderList } from './formatter';
import { ellipsis, humanDuration, prettyPrint } from './units';

export const TASK_PS_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}';
export const TASK_HEADERS = {
  ID: 'ID',
  Name: 'NAME',
  Image: 'IMAGE',
  Node: 'NODE',
  DesiredState: 'DESIRED STATE',
  CurrentState: 'CURRENT STATE',
  Error: 'ERROR',
  Ports: 'PORTS',
};
const MAX_ERR = 30;

export interface TaskRenderContext {
  /** Service ID → name. */
  serviceNames: Map<string, string>;
  /** Node ID → hostname (empty to print IDs, as --no-resolve). */
  nodeNames: Map<string, string>;
  now: number;
  noTrunc?: boolean;
  format?: string;
  quiet?: boolean;
}

export function taskName(t: Task, serviceNames: Map<string, string>): string {
  const svc = serviceNames.get(t.ServiceID) ?? t.ServiceAnnotations?.Name ?? t.ServiceID;
  return t.Slot ? `${svc}.${t.Slot}` : `${svc}.${t.NodeID ?? ''}`;
}

export function currentState(t: Task, now: number): string {
  const since = now - Date.parse(t.Status.Timestamp);
  return `${prettyPrint(t.Status.State)} ${humanDuration(Math.max(0, since)).toLowerCase()} ago`;
}

export function taskRows(tasks: Task[], ctx: TaskRenderContext): object[] {
  const named = tasks.map((t) => ({ t, name: taskName(t, ctx.serviceNames) }));
  named.sort((a, b) => {
    if (a.name !== b.name) return a.name < b.name ? -1 : 1;
    return Date.parse(b.t.CreatedAt) - Date.parse(a.t.CreatedAt);
  });
  let prev = '';
  return named.map(({ t, name }) => {
    const shown = name === prev ? ` \\_ ${name}` : name;
    prev = name;
    const err = t.Status.Err ?? '';
    const shortErr = ctx.noTrunc ? err : ellipsis(err, MAX_ERR);
    const ports = (t.Status.PortStatus?.Ports ?? []).map((p) => `*:${p.PublishedPort}->${p.TargetPort}/${p.Protocol ?? 'tcp'}`);
    return {
      ID: ctx.noTrunc ? t.ID : t.ID.slice(0, 12),
      Name: shown,
      Image: ctx.noTrunc ? t.Spec.ContainerSpec.Image : displayImage(t.Spec.ContainerSpec.Image),
      Node: t.NodeID ? ctx.nodeNames.get(t.NodeID) ?? t.NodeID : '',
      DesiredState: prettyPrint(t.DesiredState),
      CurrentState: currentState(t, ctx.now),
      Error: shortErr ? JSON.stringify(shortErr) : '',
      Ports: ports.join(','),
    };
  });
}

export function renderTaskList(tasks: Task[], ctx: TaskRenderContext): string {
  const format = ctx.quiet ? '{{.ID}}' : ctx.format || TASK_PS_FORMAT;
  return renderList(format, taskRows(tasks, ctx), { headers: TASK_HEADERS, typeName: '*task.taskContext' });
}
