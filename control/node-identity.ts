/**
 * This node's ID, kept in the data dir so it survives restarts: the executors label and find their tasks by it
 * before the node has even joined a swarm, and `swarm init` makes it the node's swarm ID.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newId, ID_LENGTH } from './api/ids';

export function loadOrCreateNodeId(dataDir: string): string {
  const file = join(dataDir, 'node-id');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (new RegExp(`^[0-9a-z]{${ID_LENGTH}}$`).test(id)) return id;
  }
  mkdirSync(dataDir, { recursive: true });
  const id = newId();
  writeFileSync(file, id + '\n');
  return id;
}
