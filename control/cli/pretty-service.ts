/**
 * `service inspect --pretty`: Docker's human template, line for line (tabs and odd spacing included, e.g.
 * "Monitoring Period: 5s" uses a space where its neighbours use tabs, and Args/Ports lines end in a space), so
 * output diffs clean against docker's. Sections appear under the same conditions as docker's template: Delay
 * only when non-zero, Resources only when the spec has a Resources object, Ports from the allocated endpoint.
 */
import type { Service, UpdateConfig } from '../api/types';
import { formatDuration } from '../base/clock';
import { formatValue } from './template';
import { formatBytes, humanDuration } from './units';

export interface PrettyServiceContext {
  now: number;
  /** Network ID → name, for the Networks line. */
  networkNames?: Map<string, string>;
}

function updateBlock(title: string, orderLabel: string, c: UpdateConfig): string {
  let s = `\n${title}:\n Parallelism:\t${c.Parallelism ?? 0}`;
  if ((c.Delay ?? 0) > 0) s += `\n Delay:\t\t${formatDuration(c.Delay as number)}`;
  s += `\n On failure:\t${c.FailureAction ?? ''}`;
  if ((c.Monitor ?? 0) > 0) s += `\n Monitoring Period: ${formatDuration(c.Monitor as number)}`;
  s += `\n Max failure ratio: ${c.MaxFailureRatio ?? 0}`;
  s += `\n ${orderLabel}${c.Order ?? ''}`;
  return s;
}

export function prettyService(svc: Service, ctx: PrettyServiceContext): string {
  const spec = svc.Spec;
  const task = spec.TaskTemplate;
  const cs = task.ContainerSpec;
  let s = `\nID:\t\t${svc.ID}\nName:\t\t${spec.Name}`;
  const labels = spec.Labels ?? {};
  if (Object.keys(labels).length) {
    s += '\nLabels:';
    for (const k of Object.keys(labels).sort()) s += `\n ${k}${labels[k] ? `=${labels[k]}` : ''}`;
  }
  s += '\nService Mode:';
  if (spec.Mode.Global) s += '\tGlobal';
  else if (spec.Mode.Replicated) {
    s += '\tReplicated';
    if (spec.Mode.Replicated.Replicas !== undefined) s += `\n Replicas:\t${spec.Mode.Replicated.Replicas}`;
  }
  const us = svc.UpdateStatus;
  if (us?.State) {
    s += `\nUpdateStatus:\n State:\t\t${us.State}`;
    if (us.StartedAt) s += `\n Started:\t${humanDuration(ctx.now - Date.parse(us.StartedAt))} ago`;
    if (us.State === 'completed' && us.CompletedAt) s += `\n Completed:\t${humanDuration(ctx.now - Date.parse(us.CompletedAt))} ago`;
    s += `\n Message:\t${us.Message ?? ''}`;
  }
  s += '\nPlacement:';
  const p = task.Placement;
  if (p?.Constraints?.length) s += `\n Constraints:\t${formatValue(p.Constraints)}`;
  if (p?.Preferences?.length) s += `\n Preferences:   ${formatValue(p.Preferences.map((x) => `spread=${x.Spread.SpreadDescriptor}`))}`;
  if (p?.MaxReplicas) s += `\n Max Replicas Per Node:   ${p.MaxReplicas}`;
  if (spec.UpdateConfig) s += updateBlock('UpdateConfig', 'Update order:      ', spec.UpdateConfig);
  if (spec.RollbackConfig) s += updateBlock('RollbackConfig', 'Rollback order:    ', spec.RollbackConfig);
  s += `\nContainerSpec:\n Image:\t\t${cs.Image}`;
  if (cs.Args?.length) s += `\n Args:\t\t${cs.Args.map((a) => a + ' ').join('')}`;
  if (cs.Env?.length) s += `\n Env:\t\t${cs.Env.map((a) => a + ' ').join('')}`;
  if (cs.Dir) s += `\n Dir:\t\t${cs.Dir}`;
  if (cs.Init !== undefined && cs.Init !== null) s += `\n Init:\t\t${cs.Init}`;
  if (cs.User) s += `\n User: ${cs.User}`;
  if (cs.Mounts?.length) {
    s += '\nMounts:';
    for (const m of cs.Mounts) {
      s += `\n Target:\t${m.Target ?? ''}\n  Source:\t${m.Source ?? ''}\n  ReadOnly:\t${!!m.ReadOnly}\n  Type:\t\t${m.Type ?? ''}`;
    }
  }
  if (task.LogDriver) {
    s += '\nLog Driver:';
    if (task.LogDriver.Name) s += `\n Name:\t\t${task.LogDriver.Name}`;
    const opts = task.LogDriver.Options ?? {};
    if (Object.keys(opts).length) {
      s += '\n LogOpts:';
      for (const k of Object.keys(opts).sort()) s += `\n  ${k}:\t\t${opts[k]}`;
    }
    s += '\n';
  }
  const res = task.Resources;
  if (res) {
    s += '\nResources:';
    const r = res.Reservations;
    if (r && ((r.NanoCPUs ?? 0) > 0 || (r.MemoryBytes ?? 0) > 0)) {
      s += '\n Reservations:';
      if ((r.NanoCPUs ?? 0) > 0) s += `\n  CPU:\t\t${(r.NanoCPUs as number) / 1e9}`;
      if (r.MemoryBytes) s += `\n  Memory:\t${formatBytes(r.MemoryBytes)}`;
    }
    const l = res.Limits;
    if (l && ((l.NanoCPUs ?? 0) > 0 || (l.MemoryBytes ?? 0) > 0 || (l.Pids ?? 0) > 0)) {
      s += '\n Limits:';
      if ((l.NanoCPUs ?? 0) > 0) s += `\n  CPU:\t\t${(l.NanoCPUs as number) / 1e9}`;
      if (l.MemoryBytes) s += `\n  Memory:\t${formatBytes(l.MemoryBytes)}`;
    }
    if ((l?.Pids ?? 0) > 0) s += `\n  PIDs:\t\t${l?.Pids}`;
  }
  const nets = task.Networks ?? spec.Networks ?? [];
  if (nets.length) {
    s += '\nNetworks:' + nets.map((n) => ` ${ctx.networkNames?.get(n.Target) ?? n.Target}`).join('') + ' ';
  }
  s += `\nEndpoint Mode:\t${spec.EndpointSpec?.Mode ?? ''}`;
  const ports = svc.Endpoint?.Ports ?? [];
  if (ports.length) {
    s += '\nPorts:';
    for (const pt of ports) {
      s += `\n PublishedPort = ${pt.PublishedPort ?? 0}\n  Protocol = ${pt.Protocol ?? ''}\n  TargetPort = ${pt.TargetPort ?? 0}\n  PublishMode = ${pt.PublishMode ?? ''}`;
    }
    s += ' ';
  }
  const hc = cs.Healthcheck;
  if (hc) {
    s += `\n Healthcheck:\n  Interval = ${formatDuration(hc.Interval ?? 0)}\n  Retries = ${hc.Retries ?? 0}`;
    s += `\n  StartPeriod =\t${formatDuration(hc.StartPeriod ?? 0)}\n  Timeout =\t${formatDuration(hc.Timeout ?? 0)}`;
    if (hc.Test?.length) {
      s += '\n  Tests:';
      for (const t of hc.Test) s += `\n\t Test = ${t}`;
      s += ' ';
    }
  }
  // The template's own closing newline, then the formatter's newline after each element.
  return s + '\n\n';
}
