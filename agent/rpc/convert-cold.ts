/**
 * Mode COLD at the MigrationService edge: the mode's name both ways, the
 * request fields that mean nothing for a shut-off VM (refused, naming the
 * field), and the status's cold_copy. What a cold migration does is the
 * core's (outgoing/cold-migration.ts).
 */
import type { ColdCopyProgress } from '../../shared/generated/ferry/v1/ColdCopyProgress.js';
import type { ColdStep as ProtoColdStep } from '../../shared/generated/ferry/v1/ColdStep.js';
import type { MigrationMode as ProtoMode } from '../../shared/generated/ferry/v1/MigrationMode.js';
import { invalidArgument } from '../../shared/errors.js';
import type { ColdCopy, ColdStep, MigrationMode, MigrationPolicy, PolicyRequest } from '../migration/index.js';

export const MODES = ['MIGRATION_MODE_UNSPECIFIED', 'MIGRATION_MODE_REMOTE', 'MIGRATION_MODE_FILE', 'MIGRATION_MODE_COLD'] as const;

const MODE_NAMES = {
  remote: 'MIGRATION_MODE_REMOTE',
  file: 'MIGRATION_MODE_FILE',
  cold: 'MIGRATION_MODE_COLD',
} as const satisfies Record<MigrationMode, ProtoMode>;

/** MIGRATION_MODE_UNSPECIFIED is REMOTE, the common case. */
export function modeFromProto(mode: (typeof MODES)[number]): MigrationMode {
  if (mode === 'MIGRATION_MODE_FILE') return 'file';
  if (mode === 'MIGRATION_MODE_COLD') return 'cold';
  return 'remote';
}

export function modeToProto(mode: MigrationMode): ProtoMode {
  return MODE_NAMES[mode];
}

/**
 * The policy fields a cold migration refuses, by their proto names; null for
 * the one it takes. Every field of MigrationPolicy is listed, so a new one
 * needs a decision here before it compiles.
 */
const COLD_POLICY_FIELDS = {
  preset: 'policy.preset',
  // Caps the volumes' data on the channel, as it caps a live copy.
  maxBandwidthMibps: null,
  parallelConnections: 'policy.parallel_connections',
  compression: 'policy.compression',
  autoConverge: 'policy.auto_converge',
  postCopy: 'policy.post_copy',
  encrypted: 'policy.encrypted',
  copyStorage: 'policy.copy_storage',
  initialDowntimeMs: 'policy.initial_downtime',
  schedule: 'policy.schedule',
  completionTimeoutSPerGib: 'policy.completion_timeout_per_gib',
  stallTimeoutS: 'policy.stall_timeout',
  // A cold job may wait QUEUED for a slot or a busy destination like any other.
  queueTimeoutS: null,
  postcopyRecoveryTimeoutS: 'policy.postcopy_recovery_timeout',
} as const satisfies Record<keyof MigrationPolicy, string | null>;

/** INVALID_ARGUMENT for the first policy field set that a cold migration has no use for. */
export function refuseLivePolicy(policy: PolicyRequest): void {
  for (const key of Object.keys(policy) as (keyof MigrationPolicy)[]) {
    const field = COLD_POLICY_FIELDS[key];
    if (field === null || policy[key] === undefined) continue;
    throw invalidArgument(
      field,
      'tunes a live copy of memory, which a shut-off VM does not have: leave it unset with mode COLD (only policy.queue_timeout and policy.max_bandwidth_mibps apply)',
    );
  }
}

const STEPS = {
  transfer: 'COLD_STEP_TRANSFER',
  define: 'COLD_STEP_DEFINE',
  'remove-source': 'COLD_STEP_REMOVE_SOURCE',
  done: 'COLD_STEP_DONE',
} as const satisfies Record<ColdStep, ProtoColdStep>;

export function coldCopyToProto(c: ColdCopy): ColdCopyProgress {
  return {
    step: STEPS[c.step],
    volumes: c.volumes.map((v) => ({
      id: v.id,
      format: v.format,
      sourcePath: v.sourcePath,
      destinationPath: v.destinationPath,
      capacityBytes: v.capacityBytes,
      allocationBytes: v.allocationBytes,
    })),
    current: c.current,
    verified: c.verified,
    holeBytes: c.holeBytes,
    keepSource: c.keepSource,
    restorePath: c.restore?.path ?? '',
    restoreDstparams: c.restore?.dstparams ?? '',
  };
}
