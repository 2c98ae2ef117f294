// The stand-in ferryd's migration jobs as its answers show them: the first
// PREPARING message, each progress step, and the ends (COMPLETED, FAILED,
// CANCELLED, or paused in post-copy), with every kind of field filled.
import { protoTimeFromMs } from '../../../shared/proto-time.js';
import type { MigrationProgress } from '../../../shared/generated/ferry/v1/MigrationProgress.js';

/** The id of the first job after start() or reset(). */
export const FIRST_JOB = '00000000-0000-4000-8000-000000000001';

export const STARTED_MS = Date.UTC(2026, 10, 22, 8, 30, 0, 250);

export function isFinal(p: MigrationProgress): boolean {
  return ['MIGRATION_PHASE_COMPLETED', 'MIGRATION_PHASE_FAILED', 'MIGRATION_PHASE_CANCELLED'].includes(String(p.phase));
}

export function progress(
  jobId: string,
  vmId: string,
  dst: string,
  mode: 'MIGRATION_MODE_REMOTE' | 'MIGRATION_MODE_FILE' | 'MIGRATION_MODE_COLD',
): MigrationProgress {
  return {
    jobId,
    vmId,
    dst,
    mode,
    phase: 'MIGRATION_PHASE_PREPARING',
    startedAt: protoTimeFromMs(STARTED_MS),
    elapsed: protoTimeFromMs(12),
    policy: { maxBandwidthMibps: 0, parallelConnections: 1, compression: 'COMPRESSION_NONE', initialDowntime: protoTimeFromMs(100) },
    maxDowntime: protoTimeFromMs(100),
    waiting: '',
  };
}

const TOTAL = 512 * 2 ** 20;

export function advance(p: MigrationProgress, percent: number, step: number): MigrationProgress {
  const processed = Math.round((TOTAL * percent) / 100);
  return {
    phase: 'MIGRATION_PHASE_MIGRATING',
    progressPercent: percent,
    data: { totalBytes: TOTAL, processedBytes: processed, remainingBytes: TOTAL - processed },
    memory: { totalBytes: TOTAL, processedBytes: processed, remainingBytes: TOTAL - processed },
    bandwidthBytesPerS: 100 * 2 ** 20,
    dirtyRateBytesPerS: 2 ** 20,
    iteration: step,
    elapsed: protoTimeFromMs(1500 * step),
    migrateUri: 'tcp://198.19.0.2:49152',
    network: 'NETWORK_ROLE_MIGRATION',
    sourceMigrationAddress: '198.19.0.1',
    convergence:
      step > 1
        ? [
            {
              action: 'CONVERGENCE_ACTION_SET_DOWNTIME',
              downtime: protoTimeFromMs(150),
              iteration: 1,
              elapsed: protoTimeFromMs(1500),
              reason: 'schedule step 1 (after iteration 1)',
            },
          ]
        : [],
    ...(p.mode === 'MIGRATION_MODE_FILE' ? { migrateUri: '', network: 'NETWORK_ROLE_UNSPECIFIED' } : {}),
    // A cold migration copies no memory: its data counters are the volumes' bytes, and it has no passes.
    ...(p.mode === 'MIGRATION_MODE_COLD' ? { migrateUri: '', memory: null, dirtyRateBytesPerS: 0, iteration: 0, convergence: [] } : {}),
  };
}

/** A post-copy that broke 3 s into the job: one automatic attempt failed, the next one planned. */
export const PAUSED: MigrationProgress = {
  phase: 'MIGRATION_PHASE_POSTCOPY_PAUSED',
  progressPercent: 90,
  bandwidthBytesPerS: 0,
  recovery: {
    cause: 'operation failed: job "migration out" failed in post-copy phase',
    pausedAt: protoTimeFromMs(STARTED_MS + 3_000),
    deadline: protoTimeFromMs(STARTED_MS + 603_000),
    attempts: 1,
    lastError: 'unable to connect to 198.19.0.2:49153: No route to host',
    nextAttemptAt: protoTimeFromMs(STARTED_MS + 5_000),
    resumed: 0,
  },
};

const FINISHED = { finishedAt: protoTimeFromMs(STARTED_MS + 4_500), elapsed: protoTimeFromMs(4_500) };

export const ENDINGS: Record<'completed' | 'failed' | 'cancelled', MigrationProgress> = {
  completed: {
    ...FINISHED,
    phase: 'MIGRATION_PHASE_COMPLETED',
    progressPercent: 100,
    data: { totalBytes: TOTAL, processedBytes: TOTAL, remainingBytes: 0 },
    downtime: protoTimeFromMs(123.5),
    libvirtElapsed: protoTimeFromMs(4_321),
    bytesOnMigrationNic: 9_007_199_254_740_000,
    bytesOnManagementNic: 65_536,
  },
  failed: {
    ...FINISHED,
    phase: 'MIGRATION_PHASE_FAILED',
    warnings: ['the route to 198.19.0.2 leaves through a gateway'],
    error: {
      step: 'perform',
      message: 'operation failed: migration job: unexpectedly failed',
      code: 'FAILED_PRECONDITION',
      libvirtCode: 1,
      libvirtCodeName: 'VIR_ERR_INTERNAL_ERROR',
      vmState: 'VM_STATE_RUNNING',
    },
  },
  cancelled: { ...FINISHED, phase: 'MIGRATION_PHASE_CANCELLED' },
};

export const JOB_2 = '00000000-0000-4000-8000-000000000002';

export const JOB_3 = '00000000-0000-4000-8000-000000000003';
