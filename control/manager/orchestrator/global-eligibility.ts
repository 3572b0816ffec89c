/**
 * Whether a global service belongs on a node: its placement constraints and platforms allow it. (Readiness and
 * availability are the orchestrator's own checks; resources and ports are the scheduler's.)
 */
import type { Node, Service } from '../../api/types';
import { compileConstraints } from '../scheduler/constraints';

const ARCH_ALIASES: Record<string, string> = { amd64: 'x86_64', arm64: 'aarch64' };
const arch = (a: string): string => ARCH_ALIASES[a.toLowerCase()] ?? a.toLowerCase();

export function nodeMatchesService(service: Service, node: Node): boolean {
  const placement = service.Spec.TaskTemplate.Placement;
  if (!compileConstraints(placement?.Constraints)(node)) return false;
  const platforms = placement?.Platforms ?? [];
  if (platforms.length === 0) return true;
  const p = node.Description.Platform;
  return platforms.some(
    (want) => (!want.OS || want.OS.toLowerCase() === p.OS.toLowerCase()) && (!want.Architecture || arch(want.Architecture) === arch(p.Architecture)),
  );
}
