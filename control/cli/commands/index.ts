/** Every swarmctl command, by path; the entry point dispatches on the first two words. */
import type { Command } from './command';
import { networkCreate, networkInspect, networkLs, networkRm } from './network';
import { nodeDemote, nodeInspect, nodeLs, nodePromote, nodePs, nodeRm, nodeUpdate } from './node';
import { serviceCreate, serviceRollback, serviceScale, serviceUpdate } from './service-deploy';
import { serviceLogs } from './service-logs';
import { serviceInspect, serviceLs, servicePs, serviceRm } from './service-query';
import { swarmInit, swarmJoin, swarmJoinToken, swarmLeave } from './swarm';

export const COMMANDS: Command[] = [
  swarmInit,
  swarmJoin,
  swarmJoinToken,
  swarmLeave,
  serviceCreate,
  serviceInspect,
  serviceLogs,
  serviceLs,
  servicePs,
  serviceRm,
  serviceRollback,
  serviceScale,
  serviceUpdate,
  nodeDemote,
  nodeInspect,
  nodeLs,
  nodePromote,
  nodePs,
  nodeRm,
  nodeUpdate,
  networkCreate,
  networkInspect,
  networkLs,
  networkRm,
];

/** Docker's aliases: `ls` = `list`, `rm` = `remove`, `inspect` has none. */
export const ALIASES: Record<string, string> = { list: 'ls', remove: 'rm' };
