/**
 * Resolves what a caller asked for against the host's defaults, in this
 * order: the host's defaults, then a preset (the request's, else the host's),
 * then the request's explicit fields. A few combinations are fixed up or
 * refused here, once, rather than discovered by libvirt mid-migration.
 */
import { FerryError, invalidArgument } from '../../../shared/errors.js';
import { PRESET_NAMES, presetFields } from './presets.js';
import { validateSchedule } from './schedule.js';
import type { Compression, CopyStorage, MigrationPolicy } from '../types.js';

/** Every field optional: unset means "the preset's, else the host's default". */
export type PolicyRequest = Partial<MigrationPolicy>;

/** What this host's libvirt and QEMU can do, as far as policies care. */
export interface HostFeatures {
  /** zlib/zstd compression of multifd streams (libvirt >= 9.4.0). */
  multifdCompression: boolean;
  /** Post-copy together with multifd (QEMU >= 10.1). */
  postCopyWithParallel: boolean;
  /** For messages, e.g. "libvirt 9.0.0, QEMU 7.2.22". */
  versions: string;
  /** libvirt's and QEMU's versions as libvirt encodes them (major * 1,000,000 + minor * 1,000 + release); 0 when unknown. */
  libvirtVersion: number;
  qemuVersion: number;
}

/** What a host that reports nothing is assumed to support: the oldest supported stack. */
export const BASELINE_FEATURES: Readonly<HostFeatures> = Object.freeze({
  multifdCompression: false,
  postCopyWithParallel: false,
  versions: 'unknown versions',
  libvirtVersion: 0,
  qemuVersion: 0,
});

/**
 * A feature a resolved policy needs and a host's libvirt or QEMU lacks, with
 * the error a Migrate on that host answers: the same predicate decides on the
 * source (resolvePolicy) and on the destination (its incoming checks).
 */
export interface FeatureGap {
  field: string;
  error: FerryError;
}

export const BUILTIN_DEFAULTS: Readonly<MigrationPolicy> = Object.freeze({
  preset: '',
  maxBandwidthMibps: 0, // unlimited (vdsm's 52 MiB/s default starves 10/25 GbE links)
  parallelConnections: 1,
  compression: 'none' as Compression,
  autoConverge: false,
  postCopy: false,
  encrypted: false,
  copyStorage: 'none' as CopyStorage,
  initialDowntimeMs: 300,
  schedule: [],
  completionTimeoutSPerGib: 60,
  stallTimeoutS: 120,
  queueTimeoutS: 600,
  postcopyRecoveryTimeoutS: 600,
});

export function resolvePolicy(
  request: PolicyRequest,
  defaults: MigrationPolicy = BUILTIN_DEFAULTS,
  features: HostFeatures = BASELINE_FEATURES,
): MigrationPolicy {
  const { policy, gaps } = resolvePolicyWithGaps(request, defaults, features);
  const [gap] = gaps;
  if (gap) throw gap.error;
  return policy;
}

/**
 * resolvePolicy, with what this host lacks for the result returned rather
 * than thrown (CheckMigration reports it among the other findings). Requests
 * that are wrong whatever the host still throw INVALID_ARGUMENT.
 */
export function resolvePolicyWithGaps(
  request: PolicyRequest,
  defaults: MigrationPolicy = BUILTIN_DEFAULTS,
  features: HostFeatures = BASELINE_FEATURES,
): { policy: MigrationPolicy; gaps: FeatureGap[] } {
  const presetName = request.preset || defaults.preset;
  const policy: MigrationPolicy = { ...defaults, schedule: [...defaults.schedule], preset: presetName };
  if (presetName) {
    const preset = presetFields(presetName);
    if (!preset) {
      const field = request.preset ? 'policy.preset' : "the host's policy.preset";
      throw invalidArgument(field, `unknown preset "${presetName}"; known presets: ${PRESET_NAMES.join(', ')}`);
    }
    Object.assign(policy, preset, { schedule: [...preset.schedule] });
  }
  for (const [key, value] of Object.entries(request) as [keyof MigrationPolicy, unknown][]) {
    if (key === 'preset' || value === undefined) continue;
    if (key === 'schedule' && (value as unknown[]).length === 0) continue; // an empty list is "unset" in proto3
    (policy as unknown as Record<string, unknown>)[key] = value;
  }
  if (policy.queueTimeoutS <= 0)
    policy.queueTimeoutS = defaults.queueTimeoutS > 0 ? defaults.queueTimeoutS : BUILTIN_DEFAULTS.queueTimeoutS;
  chooseCompression(policy, request.compression !== undefined, features);
  const gaps = featureGaps(policy, features);
  addDefaultPostCopyStep(policy);
  try {
    validateSchedule(policy.schedule, policy.postCopy);
  } catch (err) {
    // A schedule the caller did not write must say where it came from.
    if (request.schedule?.length || !(err instanceof FerryError)) throw err;
    throw new FerryError(
      err.kind,
      `${err.message} (the schedule is preset ${presetName}'s; set post_copy or give a schedule)`,
      err.details,
    );
  }
  return { policy, gaps };
}

/**
 * What a resolved policy needs that a host's libvirt or QEMU lacks, in the
 * order Migrate reports them. `host` names the host in the messages ("this
 * host", "the destination").
 */
export function featureGaps(policy: MigrationPolicy, features: HostFeatures, host = 'this host'): FeatureGap[] {
  const gaps: FeatureGap[] = [];
  if (policy.parallelConnections > 1 && policy.compression !== 'none' && !features.multifdCompression) {
    const field = 'policy.compression';
    gaps.push({
      field,
      error: new FerryError(
        'FAILED_PRECONDITION',
        `${field}: ${policy.compression} of a parallel migration needs libvirt >= 9.4.0 (${host}: ${features.versions}): use compression none, or upgrade libvirt`,
        { field, reason: 'HOST_FEATURE_MISSING' },
      ),
    });
  }
  if (policy.postCopy && policy.parallelConnections > 1 && !features.postCopyWithParallel) {
    gaps.push({
      field: 'policy.post_copy',
      error: invalidArgument(
        'policy.post_copy',
        `post-copy with parallel_connections > 1 needs QEMU >= 10.1 (${host}: ${features.versions}): set parallel_connections 1 or post_copy false`,
      ),
    });
  }
  return gaps;
}

/** After how many complete memory passes post_copy alone switches (the post-copy-when-stalled preset's choice). */
export const DEFAULT_POST_COPY_AFTER_ITERATION = 6;

/**
 * post_copy means "switch to post-copy when pre-copy does not converge", so
 * it must switch without a schedule too: with no POST_COPY step, one is added
 * after DEFAULT_POST_COPY_AFTER_ITERATION passes (or after the schedule's last
 * iteration step, when that is later). A schedule that already ends in its
 * own last resort (ABORT, SUSPEND) keeps it: post_copy then only allows the
 * switch by hand, ChangeMigrationParams(start_post_copy), before that step.
 */
function addDefaultPostCopyStep(policy: MigrationPolicy): void {
  if (!policy.postCopy || policy.schedule.some((s) => s.action === 'post-copy')) return;
  const last = policy.schedule.at(-1);
  if (last && (last.action === 'abort' || last.action === 'suspend')) return;
  const iterations = policy.schedule.filter((s) => s.trigger.kind === 'iteration').map((s) => s.trigger.after);
  const after = Math.max(DEFAULT_POST_COPY_AFTER_ITERATION, ...iterations);
  policy.schedule = [...policy.schedule, { trigger: { kind: 'iteration', after }, action: 'post-copy' }];
}

/**
 * With multifd a compression method is always chosen explicitly: libvirt
 * >= 9.4 refuses the COMPRESSED flag without one ("No compression algorithm
 * selected for parallel migration", oVirt/vdsm#489), and xbzrle is skipped by
 * multifd pages altogether (seen on the lab: 0 xbzrle pages). Older libvirt
 * has no multifd method, so there the choice is "none".
 */
function chooseCompression(policy: MigrationPolicy, explicit: boolean, features: HostFeatures): void {
  if (policy.parallelConnections > 1) {
    if (!explicit) {
      const multifdMethod = policy.compression === 'zlib' || policy.compression === 'zstd' ? policy.compression : 'zstd';
      policy.compression = features.multifdCompression ? multifdMethod : 'none';
    }
    if (policy.compression === 'xbzrle') {
      throw invalidArgument(
        'policy.compression',
        'xbzrle works with a single connection only (multifd pages bypass it): use zstd, zlib or none with parallel_connections > 1',
      );
    }
  } else if (policy.compression === 'zstd' || policy.compression === 'zlib') {
    throw invalidArgument(
      'policy.compression',
      `${policy.compression} needs parallel_connections > 1 (multifd); use xbzrle for a single connection`,
    );
  }
}
