/**
 * MigrationPolicy, ConvergenceStep and ConvergenceRecord between the proto
 * messages and the core's types. Field ranges are checked here; what a
 * combination of fields means (presets, compression, the schedule's order)
 * is the core's policy.ts and schedule.ts.
 */
import type { ConvergenceAction as ProtoAction } from '../../shared/generated/ferry/v1/ConvergenceAction.js';
import type { ConvergenceRecord as ProtoRecord } from '../../shared/generated/ferry/v1/ConvergenceRecord.js';
import type { ConvergenceStep__Output } from '../../shared/generated/ferry/v1/ConvergenceStep.js';
import type { MigrationPolicy as ProtoPolicy, MigrationPolicy__Output } from '../../shared/generated/ferry/v1/MigrationPolicy.js';
import { invalidArgument } from '../../shared/errors.js';
import { msFromProtoTime, optionalDuration, protoTimeFromMs } from '../../shared/proto-time.js';
import { optionalInRange, requireEnum } from '../../shared/validation.js';
import {
  BUILTIN_DEFAULTS,
  type PolicyRequest,
  MAX_STEPS,
  type Compression,
  type ConvergenceAction,
  type ConvergenceRecord,
  type ConvergenceStep,
  type CopyStorage,
  type MigrationPolicy,
} from '../migration/index.js';

const COMPRESSIONS = ['COMPRESSION_UNSPECIFIED', 'COMPRESSION_NONE', 'COMPRESSION_ZLIB', 'COMPRESSION_ZSTD', 'COMPRESSION_XBZRLE'] as const;
const COPY_STORAGE = ['COPY_STORAGE_UNSPECIFIED', 'COPY_STORAGE_NONE', 'COPY_STORAGE_ALL', 'COPY_STORAGE_INCREMENTAL'] as const;
const ACTIONS = {
  CONVERGENCE_ACTION_SET_DOWNTIME: 'set-downtime',
  CONVERGENCE_ACTION_POST_COPY: 'post-copy',
  CONVERGENCE_ACTION_SUSPEND: 'suspend',
  CONVERGENCE_ACTION_ABORT: 'abort',
} as const satisfies Record<Exclude<ProtoAction, 'CONVERGENCE_ACTION_UNSPECIFIED' | number>, ConvergenceAction>;
const ACTION_NAMES = Object.keys(ACTIONS) as (keyof typeof ACTIONS)[];

export function policyRequest(policy: MigrationPolicy__Output | null): PolicyRequest {
  if (!policy) return {};
  const request: PolicyRequest = {};
  const set = <K extends keyof PolicyRequest>(key: K, value: PolicyRequest[K] | undefined) => {
    if (value !== undefined) request[key] = value;
  };
  if (policy.preset) set('preset', policy.preset);
  set('maxBandwidthMibps', optionalInRange('policy.max_bandwidth_mibps', policy.maxBandwidthMibps, 0, 1_000_000, 'MiB/s (0 = unlimited)'));
  set('parallelConnections', optionalInRange('policy.parallel_connections', policy.parallelConnections, 1, 64, 'connections'));
  set('initialDowntimeMs', optionalDuration('policy.initial_downtime', policy.initialDowntime, 'ms', 1, 60_000));
  set(
    'completionTimeoutSPerGib',
    optionalDuration(
      'policy.completion_timeout_per_gib',
      policy.completionTimeoutPerGib,
      's',
      0,
      86_400,
      'per GiB; 0 = no completion timeout',
    ),
  );
  set('stallTimeoutS', optionalDuration('policy.stall_timeout', policy.stallTimeout, 's', 0, 86_400, '0 = no stall timeout'));
  const queue = optionalDuration('policy.queue_timeout', policy.queueTimeout, 's', 0, 86_400, "0 = the host's default");
  if (queue) set('queueTimeoutS', queue);
  // Zero is a choice here (resume only by hand), not "unset".
  set(
    'postcopyRecoveryTimeoutS',
    optionalDuration(
      'policy.postcopy_recovery_timeout',
      policy.postcopyRecoveryTimeout,
      's',
      0,
      86_400,
      'of automatic resumption; 0 = only by RecoverMigration',
    ),
  );
  set('autoConverge', policy.autoConverge);
  set('postCopy', policy.postCopy);
  set('encrypted', policy.encrypted);
  const compression = requireEnum('policy.compression', policy.compression, COMPRESSIONS);
  if (compression !== 'COMPRESSION_UNSPECIFIED') set('compression', compression.slice('COMPRESSION_'.length).toLowerCase() as Compression);
  const copyStorage = requireEnum('policy.copy_storage', policy.copyStorage, COPY_STORAGE);
  if (copyStorage !== 'COPY_STORAGE_UNSPECIFIED')
    set('copyStorage', copyStorage.slice('COPY_STORAGE_'.length).toLowerCase() as CopyStorage);
  if (policy.schedule.length > MAX_STEPS)
    throw invalidArgument('policy.schedule', `has ${policy.schedule.length} steps; at most ${MAX_STEPS} are allowed`);
  if (policy.schedule.length > 0) set('schedule', policy.schedule.map(stepFromProto));
  return request;
}

function stepFromProto(step: ConvergenceStep__Output, i: number): ConvergenceStep {
  const field = `policy.schedule[${i}]`;
  const action = requireEnum(`${field}.action`, step.action, ACTION_NAMES);
  const trigger =
    step.trigger === 'afterIteration'
      ? { kind: 'iteration' as const, after: step.afterIteration ?? 0 }
      : step.trigger === 'afterElapsed'
        ? {
            kind: 'seconds' as const,
            after: optionalDuration(`${field}.after_elapsed`, step.afterElapsed, 's', 0, Number.MAX_SAFE_INTEGER) ?? 0,
          }
        : undefined;
  if (!trigger) throw invalidArgument(field, 'needs a trigger: set after_iteration or after_elapsed');
  // Ranges of both are the schedule's (schedule.ts); zero downtime is unset.
  const downtimeMs = optionalDuration(`${field}.downtime`, step.downtime, 'ms', 0, Number.MAX_SAFE_INTEGER);
  return { trigger, action: ACTIONS[action], ...(downtimeMs ? { downtimeMs } : {}) };
}

/**
 * A policy another agent resolved (CheckIncoming's): every field as it was
 * sent, the enums checked. Not policyRequest: a resolved policy holds values
 * a caller may not ask for (0 ms of initial downtime is libvirt's default).
 */
export function resolvedPolicyFromProto(p: MigrationPolicy__Output | null): MigrationPolicy {
  if (!p) return { ...BUILTIN_DEFAULTS, schedule: [] };
  const compression = requireEnum('policy.compression', p.compression, COMPRESSIONS);
  const copyStorage = requireEnum('policy.copy_storage', p.copyStorage, COPY_STORAGE);
  return {
    preset: p.preset,
    maxBandwidthMibps: p.maxBandwidthMibps ?? 0,
    parallelConnections: p.parallelConnections ?? 1,
    compression:
      compression === 'COMPRESSION_UNSPECIFIED' ? 'none' : (compression.slice('COMPRESSION_'.length).toLowerCase() as Compression),
    autoConverge: p.autoConverge ?? false,
    postCopy: p.postCopy ?? false,
    encrypted: p.encrypted ?? false,
    copyStorage:
      copyStorage === 'COPY_STORAGE_UNSPECIFIED' ? 'none' : (copyStorage.slice('COPY_STORAGE_'.length).toLowerCase() as CopyStorage),
    initialDowntimeMs: msFromProtoTime(p.initialDowntime),
    schedule: p.schedule.map(stepFromProto),
    completionTimeoutSPerGib: msFromProtoTime(p.completionTimeoutPerGib) / 1000,
    stallTimeoutS: msFromProtoTime(p.stallTimeout) / 1000,
    queueTimeoutS: msFromProtoTime(p.queueTimeout) / 1000,
    postcopyRecoveryTimeoutS: msFromProtoTime(p.postcopyRecoveryTimeout) / 1000,
  };
}

export function policyToProto(p: MigrationPolicy): ProtoPolicy {
  return {
    preset: p.preset,
    maxBandwidthMibps: p.maxBandwidthMibps,
    parallelConnections: p.parallelConnections,
    compression: `COMPRESSION_${p.compression.toUpperCase()}` as never,
    autoConverge: p.autoConverge,
    postCopy: p.postCopy,
    encrypted: p.encrypted,
    copyStorage: `COPY_STORAGE_${p.copyStorage.toUpperCase()}` as never,
    initialDowntime: protoTimeFromMs(p.initialDowntimeMs),
    schedule: p.schedule.map((s) => ({
      ...(s.trigger.kind === 'iteration' ? { afterIteration: s.trigger.after } : { afterElapsed: protoTimeFromMs(s.trigger.after * 1000) }),
      action: actionToProto(s.action),
      downtime: s.downtimeMs === undefined ? null : protoTimeFromMs(s.downtimeMs),
    })),
    completionTimeoutPerGib: protoTimeFromMs(p.completionTimeoutSPerGib * 1000),
    stallTimeout: protoTimeFromMs(p.stallTimeoutS * 1000),
    queueTimeout: protoTimeFromMs(p.queueTimeoutS * 1000),
    postcopyRecoveryTimeout: protoTimeFromMs(p.postcopyRecoveryTimeoutS * 1000),
  };
}

export function recordToProto(r: ConvergenceRecord): ProtoRecord {
  return {
    action: actionToProto(r.action),
    downtime: r.downtimeMs === undefined ? null : protoTimeFromMs(r.downtimeMs),
    iteration: r.iteration,
    elapsed: protoTimeFromMs(r.elapsedMs),
    reason: r.reason,
  };
}

function actionToProto(action: ConvergenceAction): ProtoAction {
  const name = ACTION_NAMES.find((n) => ACTIONS[n] === action);
  if (!name) throw new Error(`no proto name for convergence action ${action}`);
  return name;
}
