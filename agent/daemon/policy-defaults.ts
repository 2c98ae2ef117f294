/** The host's policy defaults (ferryd.yaml `policy`) as the migration core takes them. */
import type { AgentConfig } from '../config/index.js';
import type { MigrationPolicy } from '../migration/index.js';

export function policyDefaults(config: AgentConfig): MigrationPolicy {
  const p = config.policy;
  return {
    preset: p.preset,
    maxBandwidthMibps: p.maxBandwidthMibps,
    parallelConnections: p.parallelConnections,
    compression: p.compression,
    autoConverge: p.autoConverge,
    postCopy: p.postCopy,
    encrypted: p.encrypted,
    copyStorage: p.copyStorage,
    initialDowntimeMs: p.initialDowntimeMs,
    schedule: [],
    completionTimeoutSPerGib: p.completionTimeoutSPerGib,
    stallTimeoutS: p.stallTimeoutS,
    queueTimeoutS: p.queueTimeoutS,
    postcopyRecoveryTimeoutS: p.postcopyRecoveryTimeoutS,
  };
}
