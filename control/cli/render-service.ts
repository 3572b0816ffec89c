/**
 * `service ls` rows: the formatter fields Docker offers (`.ID` short, `.Name`, `.Mode`, `.Replicas`, `.Image`,
 * `.Ports`) and the default table. REPLICAS is running/desired (with "(max N per node)"), PORTS lists the
 * ingress ports with consecutive ranges merged ("*:8080-8081->80-81/tcp").
 */
import type { PortConfig } from '../api/types';
import type { ServiceWithStatus } from './client';
import { displayImage, naturalLess } from './display';
import { renderList } from './formatter';

export const SERVICE_LS_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}';
export const SERVICE_HEADERS = { ID: 'ID', Name: 'NAME', Mode: 'MODE', Replicas: 'REPLICAS', Image: 'IMAGE', Ports: 'PORTS' };

export interface ServiceRow {
  ID: string;
  Name: string;
  Mode: string;
  Replicas: string;
  Image: string;
  Ports: string;
}

/** Docker's ingress port column: sorted by protocol then published port, consecutive pairs merged. */
export function servicePorts(ports: PortConfig[] | undefined): string {
  const ingress = (ports ?? [])
    .filter((p) => (p.PublishMode ?? 'ingress') === 'ingress')
    .sort((a, b) => ((a.Protocol ?? 'tcp') === (b.Protocol ?? 'tcp') ? (a.PublishedPort ?? 0) - (b.PublishedPort ?? 0) : (a.Protocol ?? 'tcp') < (b.Protocol ?? 'tcp') ? -1 : 1));
  const out: string[] = [];
  let run: { pStart: number; pEnd: number; tStart: number; tEnd: number; proto: string } | null = null;
  const flush = (): void => {
    if (!run) return;
    const pub = run.pStart === run.pEnd ? `${run.pStart}` : `${run.pStart}-${run.pEnd}`;
    const tgt = run.tStart === run.tEnd ? `${run.tStart}` : `${run.tStart}-${run.tEnd}`;
    out.push(`*:${pub}->${tgt}/${run.proto}`);
  };
  for (const p of ingress) {
    const pub = p.PublishedPort ?? 0;
    const tgt = p.TargetPort ?? 0;
    const proto = p.Protocol ?? 'tcp';
    if (run && run.proto === proto && pub === run.pEnd + 1 && tgt === run.tEnd + 1) {
      run.pEnd = pub;
      run.tEnd = tgt;
      continue;
    }
    flush();
    run = { pStart: pub, pEnd: pub, tStart: tgt, tEnd: tgt, proto };
  }
  flush();
  return out.join(', ');
}

export function serviceRow(s: ServiceWithStatus): ServiceRow {
  const running = s.ServiceStatus?.RunningTasks ?? 0;
  const desired = s.ServiceStatus?.DesiredTasks ?? 0;
  const max = s.Spec.TaskTemplate.Placement?.MaxReplicas ?? 0;
  let replicas = `${running}/${desired}`;
  if (s.Spec.Mode.Replicated && max > 0) replicas += ` (max ${max} per node)`;
  return {
    ID: s.ID.slice(0, 12),
    Name: s.Spec.Name,
    Mode: s.Spec.Mode.Global ? 'global' : 'replicated',
    Replicas: replicas,
    Image: displayImage(s.Spec.TaskTemplate.ContainerSpec.Image),
    Ports: servicePorts(s.Endpoint?.Ports),
  };
}

export function renderServiceList(services: ServiceWithStatus[], opts: { format?: string; quiet?: boolean } = {}): string {
  const sorted = [...services].sort((a, b) => naturalLess(a.Spec.Name, b.Spec.Name));
  const format = opts.quiet ? '{{.ID}}' : opts.format || SERVICE_LS_FORMAT;
  return renderList(format, sorted.map(serviceRow), { headers: SERVICE_HEADERS, typeName: '*formatter.serviceContext' });
}
