#!/usr/bin/env node
/**
 * swarmd: the node daemon's entry. Flags → executor → daemon; SIGTERM/SIGINT stop it cleanly (tasks keep running
 * and are adopted by the next start, as Docker's live-restore does).
 */
import Docker from 'dockerode';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { createLogger, type Logger } from './base/log';
import { systemClock } from './base/clock';
import { errorMessage } from './base/errors';
import type { Executor } from './agent/executor';
import { ProcessExecutor } from './agent/process-executor';
import { DockerExecutor } from './agent/docker-executor';
import { BridgePlumber } from '../overlay/bridge-plumber';
import type { NetworkPlumber } from '../overlay/network-plumber';
import { Daemon } from './daemon';
import { loadOrCreateNodeId } from './node-identity';
import { parseSwarmdFlags, SWARMD_USAGE, type SwarmdFlags } from './swarmd-flags';
import { SHOAL_VERSION } from './version';
import { cleanupNode } from './node-cleanup';

async function chooseExecutor(flags: SwarmdFlags, nodeId: string, plumber: NetworkPlumber, log: Logger): Promise<Executor> {
  const socketPath = flags.dockerHost.replace(/^unix:\/\//, '');
  const docker = new Docker({ socketPath });
  let kind = flags.executor;
  if (!kind) {
    const answers = await docker.ping().then(() => true, () => false);
    kind = answers ? 'docker' : 'process';
    log.info(`executor: ${kind}`, { reason: answers ? `a Docker engine answers at ${flags.dockerHost}` : `no Docker engine at ${flags.dockerHost}` });
  }
  if (kind === 'docker') {
    await docker.ping().catch((e) => {
      throw new Error(`--executor docker: no Docker engine answers at ${flags.dockerHost} (${errorMessage(e)}); start dockerd or use --executor process`);
    });
    return new DockerExecutor({ docker, plumber, log: log.child({ component: 'executor' }), nodeId });
  }
  return new ProcessExecutor({ dataDir: join(flags.dataDir, 'process'), plumber, log: log.child({ component: 'executor' }), hostname: flags.hostname });
}

async function main(): Promise<void> {
  let flags: SwarmdFlags;
  try {
    flags = parseSwarmdFlags(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`swarmd: ${errorMessage(e)}\n`);
    process.exit(2);
  }
  if (flags.help) return void process.stdout.write(SWARMD_USAGE);
  if (flags.version) return void process.stdout.write(`swarmd ${SHOAL_VERSION}\n`);
  const log = createLogger(flags.logLevel, { component: 'swarmd' });
  if (flags.cleanup) return cleanupNode({ log, dnsAddress: flags.dnsAddr || undefined });
  const nodeId = loadOrCreateNodeId(flags.dataDir);
  const plumber = new BridgePlumber({ log: log.child({ component: 'plumber' }) });
  const daemon = new Daemon({
    host: flags.host,
    dataDir: flags.dataDir,
    nodeId,
    executor: await chooseExecutor(flags, nodeId, plumber, log),
    plumber,
    mesh: flags.mesh,
    meshWorkers: flags.meshWorkers === 'auto' ? availableParallelism() : flags.meshWorkers,
    metrics: flags.metricsAddr,
    dnsAddress: flags.dnsAddr || undefined,
    dnsUpstreams: flags.dnsUpstreams.length ? flags.dnsUpstreams : undefined,
    listenAddr: flags.listenAddr,
    advertiseAddr: flags.advertiseAddr,
    hostname: flags.hostname,
    clock: systemClock,
    log,
  });
  await daemon.start();
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    daemon.stop().then(
      () => process.exit(0),
      (e) => {
        log.error('shutdown failed', { err: e });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((e) => {
  process.stderr.write(`swarmd: ${errorMessage(e)}\n`);
  process.exit(1);
});
