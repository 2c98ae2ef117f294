/**
 * Conversion between proto messages and the core's plain types, done once at
 * the edge (containerd's helpers.go habit). Validation of single fields lives
 * in shared/validation.ts; this file decides what each proto field means.
 */
import type { MigrateRequest__Output } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import type { MigrationError } from '../../shared/generated/ferry/v1/MigrationError.js';
import type { MigrationProgress } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import type { PostcopyRecovery as ProtoRecovery } from '../../shared/generated/ferry/v1/PostcopyRecovery.js';
import type { MigrationPhase as ProtoPhase } from '../../shared/generated/ferry/v1/MigrationPhase.js';
import type { JobSelector__Output } from '../../shared/generated/ferry/v1/JobSelector.js';
import type { ListMigrationsRequest__Output } from '../../shared/generated/ferry/v1/ListMigrationsRequest.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import { fieldRequired, invalidArgument } from '../../shared/errors.js';
import { DEFAULT_AGENT_PORT } from '../../shared/client.js';
import { optionalCidr, optionalUnicast, requireAbsolutePath, requireEnum, requireHostPort, requireUuid } from '../../shared/validation.js';
import type {
  JobQuery,
  JobSelector,
  MigrateRequest,
  MigrationFailure,
  MigrationPhase,
  MigrationStatus,
  PostcopyRecovery,
  RestoreRequest,
} from '../migration/index.js';
import { policyRequest, policyToProto, recordToProto } from './convert-policy.js';
import { vmStateToProto } from './convert-vm-state.js';
import { MODES, coldCopyToProto, modeFromProto, modeToProto, refuseLivePolicy } from './convert-cold.js';

/** The request's fields checked one by one; what they mean together (the policy against the host's defaults) is the core's. */
export function requestFromProto(request: MigrateRequest__Output): MigrateRequest {
  const vmId = requireUuid('vm_id', request.vmId);
  const mode = modeFromProto(requireEnum('mode', request.mode, MODES));
  const policy = policyRequest(request.policy);
  const retry = requestIdFromProto(request.requestId);
  // proto-loader fills an absent bool with false; an agent older than the field never sees it.
  const keepSource = request.keepSource ?? false;
  if (keepSource && mode !== 'cold') {
    throw invalidArgument('keep_source', 'applies to mode COLD only: leave it unset, or set mode MIGRATION_MODE_COLD');
  }
  if (mode === 'file') {
    return {
      vmId,
      mode,
      dst: requireAbsolutePath('dst', request.dst),
      dstparams: requireAbsolutePath('dstparams', request.dstparams),
      dstqemu: '',
      migrationNetwork: '',
      overwrite: request.overwrite,
      keepSource: false,
      policy,
      ...retry,
    };
  }
  requireHostPort('dst', request.dst, DEFAULT_AGENT_PORT);
  const dstqemu = optionalUnicast('dstqemu', request.dstqemu);
  const migrationNetwork = optionalCidr('migration_network', request.migrationNetwork);
  if (dstqemu && migrationNetwork) {
    throw invalidArgument('migration_network', 'give either dstqemu or migration_network, not both');
  }
  const destination = { vmId, dst: request.dst, dstqemu, migrationNetwork, overwrite: false, policy, ...retry };
  if (mode === 'remote') return { ...destination, mode, dstparams: '', keepSource: false };
  if (request.overwrite) throw invalidArgument('overwrite', 'applies to mode FILE only: a cold migration never replaces files');
  refuseLivePolicy(policy);
  const dstparams = request.dstparams ? requireAbsolutePath('dstparams', request.dstparams) : '';
  return { ...destination, mode, dstparams, keepSource };
}

/** CheckMigration's request: Migrate's, for the one mode whose checks involve the destination's view of a live guest. */
export function checkRequestFromProto(request: MigrateRequest__Output): MigrateRequest {
  const migration = requestFromProto(request);
  if (migration.mode === 'cold') {
    throw invalidArgument(
      'mode',
      'CheckMigration checks live migrations (mode REMOTE) only in this version; Migrate in mode COLD runs its own checks before it starts',
    );
  }
  return migration;
}

export function restoreFromProto(request: { path: string; dstparams: string; paused: boolean; requestId?: string }): RestoreRequest {
  return {
    path: requireAbsolutePath('path', request.path),
    dstparams: requireAbsolutePath('dstparams', request.dstparams),
    paused: request.paused,
    ...requestIdFromProto(request.requestId ?? ''),
  };
}

/** request_id is optional; when given it is a UUID (AIP-155), compared in lower case. */
function requestIdFromProto(requestId: string): { requestId?: string } {
  return requestId ? { requestId: requireUuid('request_id', requestId) } : {};
}

const PHASES = [
  'MIGRATION_PHASE_QUEUED',
  'MIGRATION_PHASE_PREPARING',
  'MIGRATION_PHASE_MIGRATING',
  'MIGRATION_PHASE_POSTCOPY',
  'MIGRATION_PHASE_POSTCOPY_PAUSED',
  'MIGRATION_PHASE_RECOVERING',
  'MIGRATION_PHASE_COMPLETED',
  'MIGRATION_PHASE_FAILED',
  'MIGRATION_PHASE_CANCELLED',
] as const;

/** ListMigrations' filters and page; page_size's default and bounds, and the token, are the core's (job-pages.ts). */
export function listQueryFromProto(request: ListMigrationsRequest__Output): JobQuery {
  const phases = request.phases.map((phase, i) => phaseFromProto(requireEnum(`phases[${i}]`, phase, PHASES)));
  return {
    activeOnly: request.activeOnly,
    ...(request.vmId ? { vmId: requireUuid('vm_id', request.vmId) } : {}),
    phases,
    pageSize: request.pageSize,
    pageToken: request.pageToken,
  };
}

export function selectorFromRequest(job: JobSelector__Output | null): JobSelector {
  if (job?.jobId) return { jobId: job.jobId };
  if (job?.vmId) return { vmId: requireUuid('job.vm_id', job.vmId) };
  throw fieldRequired('job', 'is required: set job.job_id (from Migrate) or job.vm_id');
}

/** The core's phase as the contract spells it ('postcopy-paused' is MIGRATION_PHASE_POSTCOPY_PAUSED). */
export function phaseToProto(phase: MigrationPhase): ProtoPhase {
  return `MIGRATION_PHASE_${phase.toUpperCase().replaceAll('-', '_')}` as ProtoPhase;
}

function phaseFromProto(phase: (typeof PHASES)[number]): MigrationPhase {
  return phase.slice('MIGRATION_PHASE_'.length).toLowerCase().replaceAll('_', '-') as MigrationPhase;
}

export function toProgress(s: MigrationStatus): MigrationProgress {
  return {
    vmId: s.vmId,
    jobId: s.jobId,
    mode: modeToProto(s.mode),
    phase: phaseToProto(s.phase),
    progressPercent: s.progressPercent,
    data: toCounters(s.data),
    memory: toCounters(s.memory),
    disk: toCounters(s.disk),
    bandwidthBytesPerS: s.bandwidthBytesPerS,
    dirtyRateBytesPerS: s.dirtyRateBytesPerS,
    iteration: s.iteration,
    maxDowntime: protoTimeFromMs(s.maxDowntimeMs),
    downtime: protoTimeFromMs(s.downtimeMs),
    elapsed: protoTimeFromMs(s.elapsedMs),
    libvirtElapsed: protoTimeFromMs(s.libvirtElapsedMs ?? 0),
    migrateUri: s.migrateUri,
    network:
      s.network === 'migration'
        ? 'NETWORK_ROLE_MIGRATION'
        : s.network === 'management'
          ? 'NETWORK_ROLE_MANAGEMENT'
          : 'NETWORK_ROLE_UNSPECIFIED',
    dst: s.dst,
    sourceMigrationAddress: s.sourceMigrationAddress,
    bytesOnMigrationNic: s.bytesOnMigrationNic,
    bytesOnManagementNic: s.bytesOnManagementNic,
    warnings: s.warnings,
    error: s.error ? failureToProto(s.error) : null,
    startedAt: protoTimeFromMs(s.startedAt),
    finishedAt: s.finishedAt === undefined ? null : protoTimeFromMs(s.finishedAt),
    policy: policyToProto(s.policy),
    convergence: s.convergence.map(recordToProto),
    completionTimeout: protoTimeFromMs(s.completionTimeoutMs),
    waiting: s.waiting,
    prepareAttempts: s.prepareAttempts,
    recovery: s.recovery ? recoveryToProto(s.recovery) : null,
    coldCopy: s.coldCopy ? coldCopyToProto(s.coldCopy) : null,
  };
}

function recoveryToProto(r: PostcopyRecovery): ProtoRecovery {
  return {
    cause: r.cause,
    pausedAt: protoTimeFromMs(r.pausedAt),
    deadline: protoTimeFromMs(r.deadlineAt),
    attempts: r.attempts,
    lastError: r.lastError,
    nextAttemptAt: r.nextAttemptAt > 0 ? protoTimeFromMs(r.nextAttemptAt) : null,
    resumed: r.resumed,
  };
}

/** Why a job (or a drain's attempt) failed, as MigrationError. */
export function failureToProto(e: MigrationFailure): MigrationError {
  return {
    step: e.step,
    message: e.message,
    code: e.kind,
    libvirtCode: e.libvirtCode ?? 0,
    libvirtCodeName: e.libvirtName ?? '',
    vmState: e.vmState ? vmStateToProto(e.vmState.state) : 'VM_STATE_UNSPECIFIED',
    vmStateReason: e.vmState?.reason ?? '',
  };
}

function toCounters(c: { total: number; processed: number; remaining: number }) {
  return { totalBytes: c.total, processedBytes: c.processed, remainingBytes: c.remaining };
}
