/**
 * The swarm's own object (Docker's "Swarm", swarmkit's Cluster "default"): created once by `swarm init` with
 * Docker's defaults, holding the cluster spec and the join tokens.
 */
import { createHash, randomBytes } from 'node:crypto';
import { newId } from './api/ids';
import type { Swarm, SwarmSpec } from './api/types';

export const DEFAULT_SPEC: SwarmSpec = {
  Name: 'default',
  Labels: {},
  Orchestration: { TaskHistoryRetentionLimit: 5 },
  Raft: { SnapshotInterval: 10000, KeepOldSnapshots: 0, LogEntriesForSlowFollowers: 500, ElectionTick: 10, HeartbeatTick: 1 },
  Dispatcher: { HeartbeatPeriod: 5e9 },
  CAConfig: { NodeCertExpiry: 7776000e9 },
  TaskDefaults: {},
  EncryptionConfig: { AutoLockManagers: false },
};

/**
 * A join token in Docker's v1 form: SWMTKN-1-<digest>-<secret>, the digest being the SHA-256 of the root CA
 * bundle in base 36 (50 characters) and the secret 16 random bytes in base 36 (25 characters). Until the PKI
 * lands, the digest is taken over the cluster's trust root material we hold (a random root secret).
 */
export function joinToken(rootMaterial: Buffer): string {
  const digest = BigInt('0x' + createHash('sha256').update(rootMaterial).digest('hex')).toString(36).padStart(50, '0');
  const secret = BigInt('0x' + randomBytes(16).toString('hex')).toString(36).padStart(25, '0');
  return `SWMTKN-1-${digest}-${secret}`;
}

export function newClusterObject(overrides: { taskHistoryLimit?: number; heartbeatPeriodNs?: number }): Swarm {
  const root = randomBytes(32);
  const spec = structuredClone(DEFAULT_SPEC);
  if (overrides.taskHistoryLimit !== undefined) spec.Orchestration.TaskHistoryRetentionLimit = overrides.taskHistoryLimit;
  if (overrides.heartbeatPeriodNs !== undefined) spec.Dispatcher.HeartbeatPeriod = overrides.heartbeatPeriodNs;
  return {
    ID: newId(),
    Version: { Index: 0 },
    CreatedAt: '',
    UpdatedAt: '',
    Spec: spec,
    TLSInfo: { TrustRoot: '', CertIssuerSubject: '', CertIssuerPublicKey: '' },
    RootRotationInProgress: false,
    DefaultAddrPool: ['10.0.0.0/8'],
    SubnetSize: 24,
    DataPathPort: 4789,
    JoinTokens: { Worker: joinToken(root), Manager: joinToken(root) },
  };
}
