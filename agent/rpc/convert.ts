/**
 * Conversion between proto messages and the core's plain types, done once at
 * the edge (containerd's helpers.go habit). Validation of single fields lives
 * in shared/validation.ts; this file decides what each proto field means.
 */
import type { MigrateRequest__Output } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import type { MigrationPolicy__Output } from '../../shared/generated/ferry/v1/MigrationPolicy.js';
import type { MigrationProgress } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import type { JobSelector__Output } from '../../shared/generated/ferry/v1/JobSelector.js';
import type { Timestamp } from '../../shared/generated/google/protobuf/Timestamp.js';
import type { Duration } from '../../shared/generated/google/protobuf/Duration.js';
import { invalidArgument } from '../../shared/errors.js';
import { DEFAULT_AGENT_PORT } from '../../shared/client.js';
import {
  optionalCidr, optionalInRange, optionalUnicast, requireAbsolutePath, requireEnum, requireHostPort, requireUuid,
} from '../../shared/validation.js';
import type { JobSelector } from '../migration/job-registry.js';
import { resolvePolicy, type PolicyRequest } from '../migration/policy.js';
import type { Compression, CopyStorage, MigrateCommand, MigrationPolicy, MigrationStatus } from '../migration/types.js';

const MODES = ['MIGRATION_MODE_UNSPECIFIED', 'MIGRATION_MODE_REMOTE', 'MIGRATION_MODE_FILE'] as const;
const COMPRESSIONS = ['COMPRESSION_UNSPECIFIED', 'COMPRESSION_NONE', 'COMPRESSION_ZLIB', 'COMPRESSION_ZSTD', 'COMPRESSION_XBZRLE'] as const;
const COPY_STORAGE = ['COPY_STORAGE_UNSPECIFIED', 'COPY_STORAGE_NONE', 'COPY_STORAGE_ALL', 'COPY_STORAGE_INCREMENTAL'] as const;

export function commandFromRequest(request: MigrateRequest__Output, hostDefaults: MigrationPolicy): MigrateCommand {
  const vmId = requireUuid('vm_id', request.vmId);
  const mode = requireEnum('mode', request.mode, MODES) === 'MIGRATION_MODE_FILE' ? 'file' : 'remote';
  const policy = resolvePolicy(policyRequest(request.policy), hostDefaults);
  if (mode === 'file') {
    return {
      vmId, mode, dst: requireAbsolutePath('dst', request.dst), dstparams: requireAbsolutePath('dstparams', request.dstparams),
      dstqemu: '', migrationNetwork: '', overwrite: request.overwrite, policy,
    };
  }
  requireHostPort('dst', request.dst, DEFAULT_AGENT_PORT);
  const dstqemu = optionalUnicast('dstqemu', request.dstqemu);
  const migrationNetwork = optionalCidr('migration_network', request.migrationNetwork);
  if (dstqemu && migrationNetwork) {
    throw invalidArgument('migration_network', 'give either dstqemu or migration_network, not both');
  }
  return { vmId, mode, dst: request.dst, dstparams: '', dstqemu, migrationNetwork, overwrite: false, policy };
}

function policyRequest(policy: MigrationPolicy__Output | null): PolicyRequest {
  if (!policy) return {};
  if (policy.preset) throw invalidArgument('policy.preset', `unknown preset "${policy.preset}" (no presets are defined on this host yet)`);
  if (policy.schedule.length > 0) throw invalidArgument('policy.schedule', 'convergence schedules are not supported by this agent version');
  const request: PolicyRequest = {};
  const set = <K extends keyof PolicyRequest>(key: K, value: PolicyRequest[K] | undefined) => {
    if (value !== undefined) request[key] = value;
  };
  set('maxBandwidthMibps', optionalInRange('policy.max_bandwidth_mibps', policy.maxBandwidthMibps, 0, 1_000_000, 'MiB/s (0 = unlimited)'));
  set('parallelConnections', optionalInRange('policy.parallel_connections', policy.parallelConnections, 1, 64, 'connections'));
  set('initialDowntimeMs', optionalInRange('policy.initial_downtime_ms', policy.initialDowntimeMs, 1, 60_000, 'ms'));
  set('stallTimeoutS', optionalInRange('policy.stall_timeout_s', policy.stallTimeoutS, 0, 86_400, 's (0 = no stall timeout)'));
  set('autoConverge', policy.autoConverge);
  set('postCopy', policy.postCopy);
  set('encrypted', policy.encrypted);
  const compression = requireEnum('policy.compression', policy.compression, COMPRESSIONS);
  if (compression !== 'COMPRESSION_UNSPECIFIED') set('compression', compression.slice('COMPRESSION_'.length).toLowerCase() as Compression);
  const copyStorage = requireEnum('policy.copy_storage', policy.copyStorage, COPY_STORAGE);
  if (copyStorage !== 'COPY_STORAGE_UNSPECIFIED') set('copyStorage', copyStorage.slice('COPY_STORAGE_'.length).toLowerCase() as CopyStorage);
  return request;
}

export function selectorFromRequest(job: JobSelector__Output | null): JobSelector {
  if (job?.jobId) return { jobId: job.jobId };
  if (job?.vmId) return { vmId: requireUuid('job.vm_id', job.vmId) };
  throw invalidArgument('job', 'is required: set job.job_id (from Migrate) or job.vm_id');
}

export function toProgress(s: MigrationStatus): MigrationProgress {
  return {
    vmId: s.vmId,
    jobId: s.jobId,
    mode: s.mode === 'file' ? 'MIGRATION_MODE_FILE' : 'MIGRATION_MODE_REMOTE',
    phase: `MIGRATION_PHASE_${s.phase.toUpperCase()}` as MigrationProgress['phase'],
    progressPercent: s.progressPercent,
    data: toCounters(s.data),
    memory: toCounters(s.memory),
    disk: toCounters(s.disk),
    bandwidthBytesPerS: s.bandwidthBytesPerS,
    dirtyRateBytesPerS: s.dirtyRateBytesPerS,
    iteration: s.iteration,
    maxDowntimeMs: s.maxDowntimeMs,
    downtimeMs: s.downtimeMs,
    elapsed: toDuration(s.elapsedMs),
    migrateUri: s.migrateUri,
    network: s.network === 'migration' ? 'NETWORK_ROLE_MIGRATION' : s.network === 'management' ? 'NETWORK_ROLE_MANAGEMENT' : 'NETWORK_ROLE_UNSPECIFIED',
    dst: s.dst,
    sourceMigrationAddress: s.sourceMigrationAddress,
    bytesOnMigrationNic: s.bytesOnMigrationNic,
    bytesOnManagementNic: s.bytesOnManagementNic,
    warnings: s.warnings,
    error: s.error
      ? {
          step: s.error.step, message: s.error.message, code: s.error.kind, libvirtCode: s.error.libvirtCode ?? 0,
          libvirtCodeName: s.error.libvirtName ?? '', vmState: s.error.vmState ?? '',
        }
      : null,
    startedAt: toTimestamp(s.startedAt),
    finishedAt: s.finishedAt === undefined ? null : toTimestamp(s.finishedAt),
    policy: {
      maxBandwidthMibps: s.policy.maxBandwidthMibps,
      parallelConnections: s.policy.parallelConnections,
      compression: `COMPRESSION_${s.policy.compression.toUpperCase()}` as never,
      autoConverge: s.policy.autoConverge,
      postCopy: s.policy.postCopy,
      encrypted: s.policy.encrypted,
      copyStorage: `COPY_STORAGE_${s.policy.copyStorage.toUpperCase()}` as never,
      initialDowntimeMs: s.policy.initialDowntimeMs,
      stallTimeoutS: s.policy.stallTimeoutS,
    },
  };
}

function toCounters(c: { total: number; processed: number; remaining: number }) {
  return { totalBytes: c.total, processedBytes: c.processed, remainingBytes: c.remaining };
}

export function toTimestamp(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

function toDuration(ms: number): Duration {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}
