/**
 * Service templates, as Docker expands them in env, hostname, labels and mounts: {{.Service.Name}},
 * {{.Service.ID}}, {{.Service.Labels}}, {{.Node.ID}}, {{.Node.Hostname}}, {{.Node.Platform.OS}},
 * {{.Node.Platform.Architecture}}, {{.Task.ID}}, {{.Task.Name}}, {{.Task.Slot}}. Expansion happens on the node,
 * which knows its own hostname, just before the executor sees the task.
 */
import type { Task } from '../api/types';

export interface TemplateNode {
  id: string;
  hostname: string;
  os: string;
  architecture: string;
}

/** Docker's task name: SERVICE.SLOT for replicated tasks, SERVICE.NODEID for global ones. */
export function taskName(task: Task): string {
  const service = task.ServiceAnnotations?.Name ?? task.ServiceID;
  return task.Slot ? `${service}.${task.Slot}` : `${service}.${task.NodeID}`;
}

/** The container name: the task name and the task ID (as in the seed's docker ps). */
export function containerName(task: Task): string {
  return `${taskName(task)}.${task.ID}`;
}

export function templateValues(task: Task, node: TemplateNode): Record<string, string> {
  return {
    '.Service.ID': task.ServiceID,
    '.Service.Name': task.ServiceAnnotations?.Name ?? '',
    '.Service.Labels': JSON.stringify(task.ServiceAnnotations?.Labels ?? {}),
    '.Node.ID': node.id,
    '.Node.Hostname': node.hostname,
    '.Node.Platform.OS': node.os,
    '.Node.Platform.Architecture': node.architecture,
    '.Task.ID': task.ID,
    '.Task.Name': containerName(task),
    '.Task.Slot': task.Slot ? String(task.Slot) : '',
  };
}

/** Replaces every {{.Path}} it knows; an unknown placeholder is an error naming it, as Docker rejects it. */
export function expand(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{\s*(\.[A-Za-z.]+)\s*\}\}/g, (whole, path: string) => {
    if (!(path in values)) throw new Error(`template: unknown placeholder ${whole} (use one of ${Object.keys(values).map((k) => `{{${k}}}`).join(', ')})`);
    return values[path];
  });
}

/** A copy of the task with env, hostname and container labels expanded. */
export function expandTask(task: Task, node: TemplateNode): Task {
  const values = templateValues(task, node);
  const t = structuredClone(task);
  const c = t.Spec.ContainerSpec;
  if (c.Env) c.Env = c.Env.map((e) => expand(e, values));
  if (c.Hostname) c.Hostname = expand(c.Hostname, values);
  if (c.Labels) for (const k of Object.keys(c.Labels)) c.Labels[k] = expand(c.Labels[k], values);
  if (c.Mounts) for (const m of c.Mounts) if (m.Source) m.Source = expand(m.Source, values);
  return t;
}
