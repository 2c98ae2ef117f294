/**
 * The migration core's own vocabulary. It mirrors the gRPC contract closely
 * but is plain data: the core never sees proto messages, and agent/rpc/
 * converts at the edge.
 */
import type { ErrorKind } from '../../shared/errors.js';
import type { VmState } from './ports.js';
import type { TraceContext } from './tracing.js';

/** remote: live migration (P2P); file: hibernation to a file here; cold: a shut-off VM with its local volumes (cold-migration.ts). */
export type MigrationMode = 'remote' | 'file' | 'cold';

/**
 * A job's phases. 'postcopy-paused': the post-copy stopped (the migration
 * connection broke) with the guest running on the destination and its
 * remaining memory on the source; 'recovering': it is being resumed
 * (libvirt's VIR_MIGRATE_POSTCOPY_RESUME), after which it is 'postcopy' again.
 */
export type MigrationPhase =
  | 'queued'
  | 'preparing'
  | 'migrating'
  | 'postcopy'
  | 'postcopy-paused'
  | 'recovering'
  | 'completed'
  | 'failed'
  | 'cancelled';

export const FINAL_PHASES: ReadonlySet<MigrationPhase> = new Set(['completed', 'failed', 'cancelled']);

export type NetworkRole = 'migration' | 'management';

export type Compression = 'none' | 'zlib' | 'zstd' | 'xbzrle';
export type CopyStorage = 'none' | 'all' | 'incremental';

/** What a convergence step does (libvirt's knobs for a migration that does not converge). */
export type ConvergenceAction = 'set-downtime' | 'post-copy' | 'suspend' | 'abort';

/** When a step fires: after N complete memory passes, or N seconds after the copy started. */
export type StepTrigger = { kind: 'iteration'; after: number } | { kind: 'seconds'; after: number };

export interface ConvergenceStep {
  trigger: StepTrigger;
  action: ConvergenceAction;
  /** set-downtime only. */
  downtimeMs?: number;
}

/** A policy with every host default resolved. */
export interface MigrationPolicy {
  /** The preset the policy started from ('' = the host's own defaults). */
  preset: string;
  maxBandwidthMibps: number; // 0 = unlimited
  parallelConnections: number; // 1 = single stream
  compression: Compression;
  autoConverge: boolean;
  postCopy: boolean;
  encrypted: boolean;
  copyStorage: CopyStorage;
  initialDowntimeMs: number; // 0 = libvirt's default
  /** Steps while the copy does not converge, in order; the last one repeats (see convergence.ts). */
  schedule: ConvergenceStep[];
  /** Abort after this many seconds per GiB of memory plus copied disks (0 = never). */
  completionTimeoutSPerGib: number;
  /** Abort when data remaining reaches no new low for this long (0 = never). */
  stallTimeoutS: number;
  /** How long the job may wait for a slot here or a busy destination before it fails. */
  queueTimeoutS: number;
  /**
   * How long a post-copy that broke is resumed automatically (retries with
   * backoff) before the job waits, paused, for RecoverMigration (0 = only by hand).
   */
  postcopyRecoveryTimeoutS: number;
}

/** What the convergence logic did to a running job, in order (the job's audit trail). */
export interface ConvergenceRecord {
  action: ConvergenceAction;
  /** set-downtime: the downtime set. */
  downtimeMs?: number;
  iteration: number;
  /** Since the memory copy started. */
  elapsedMs: number;
  /** Why: "schedule step 2 (after iteration 3)", "completion timeout", "ChangeMigrationParams", ... */
  reason: string;
}

export interface MigrateCommand {
  vmId: string;
  mode: MigrationMode;
  /** REMOTE and COLD: destination agent host[:port]. FILE: saved-state path. */
  dst: string;
  /** FILE: the definition path. COLD: a hibernation's definition file here ('' = none): its saved state travels too. */
  dstparams: string;
  /** REMOTE and COLD: the destination's migration address ('' = not given). */
  dstqemu: string;
  /** REMOTE and COLD: a CIDR in which the destination picks its address ('' = not given). */
  migrationNetwork: string;
  /** FILE: replace existing files. */
  overwrite: boolean;
  /** COLD: keep the source's volumes and definition after the destination verified its copies. */
  keepSource: boolean;
  policy: MigrationPolicy;
}

/**
 * A Migrate call as the caller made it, its fields checked one by one: the
 * policy holds only what the caller set; the core resolves it against the
 * host's defaults and features (policy.ts) into a MigrateCommand.
 */
export interface MigrateRequest extends Omit<MigrateCommand, 'policy'> {
  /** Every field optional: unset means "the preset's, else the host's default". */
  policy: Partial<MigrationPolicy>;
  /** The caller's id for safe retries (request-identity.ts); absent: every call is a new request. */
  requestId?: string;
  /** The caller's span (an engine's traceparent): the migration's trace continues it. Not part of the request's identity. */
  trace?: TraceContext;
}

/** A Restore call: the saved state and Ferry's definition file beside it. */
export interface RestoreRequest {
  path: string;
  dstparams: string;
  paused: boolean;
  /** As MigrateRequest.requestId. */
  requestId?: string;
}

export interface DataCounters {
  total: number;
  processed: number;
  remaining: number;
}

/** How far a migration's copy has come: what libvirt's job statistics report and a job's status carries on. */
export interface TransferProgress {
  data: DataCounters;
  memory: DataCounters;
  disk: DataCounters;
  bandwidthBytesPerS: number;
  dirtyRateBytesPerS: number;
  /** libvirt's memory iteration: passes done + 1 once the copy runs. */
  iteration: number;
}

/** What libvirt's job statistics say about a running or completed job. */
export interface JobStats extends TransferProgress {
  /** libvirt's job type: none, bounded, unbounded, completed, failed, cancelled. */
  type: 'none' | 'bounded' | 'unbounded' | 'completed' | 'failed' | 'cancelled';
  /** The libvirt operation, e.g. "outgoing migration", "save". */
  operation?: string;
  elapsedMs: number;
  downtimeMs: number;
  /** QEMU is in post-copy. */
  postcopy: boolean;
}

export interface MigrationFailure {
  step: string;
  message: string;
  kind: ErrorKind;
  libvirtCode?: number;
  libvirtName?: string;
  vmState?: VmOnSource;
}

/**
 * What became of the VM on the source: libvirt's state, 'absent' when libvirt
 * no longer knows it here, 'unknown' when libvirt did not answer (the reason
 * says so). The reason is the detail, '' when there is none.
 */
export interface VmOnSource {
  state: VmState | 'absent' | 'unknown';
  reason: string;
}

/** The VM is where it was: nothing reached libvirt, or the job let go of it. */
export const STILL_RUNNING: Readonly<VmOnSource> = Object.freeze({ state: 'running', reason: '' });

/** A job's state at one moment: what GetMigrationStatus and WatchMigration carry. */
export interface MigrationStatus extends TransferProgress {
  jobId: string;
  vmId: string;
  mode: MigrationMode;
  phase: MigrationPhase;
  progressPercent: number;
  maxDowntimeMs: number;
  downtimeMs: number;
  elapsedMs: number;
  /** libvirt's VIR_DOMAIN_JOB_TIME_ELAPSED for the migration job (absent in records of older agents). */
  libvirtElapsedMs?: number;
  migrateUri: string;
  network?: NetworkRole;
  dst: string;
  sourceMigrationAddress: string;
  bytesOnMigrationNic: number;
  bytesOnManagementNic: number;
  warnings: string[];
  error?: MigrationFailure;
  startedAt: number;
  finishedAt?: number;
  policy: MigrationPolicy;
  /** What the convergence logic did, oldest first. */
  convergence: ConvergenceRecord[];
  /** The completion timeout of this job in ms, once known (0 = none). */
  completionTimeoutMs: number;
  /** Why a QUEUED job waits ('' when it does not). */
  waiting: string;
  /** PrepareIncoming calls made so far (more than one when the destination was busy). */
  prepareAttempts: number;
  /** Set once the post-copy broke (phase postcopy-paused), kept after it was resumed. */
  recovery?: PostcopyRecovery;
  /** COLD: the volumes moved and where the job stands (data counters and bandwidth carry the bytes). */
  coldCopy?: ColdCopy;
}

/**
 * Where a cold migration stands: 'transfer' streams the volumes, 'define'
 * moves the definition (offline migration), 'remove-source' deletes the
 * source's copy, 'done' once nothing is left to do. Journaled, so that a
 * restarted agent knows what may be finished and what must be undone.
 */
export type ColdStep = 'transfer' | 'define' | 'remove-source' | 'done';

export interface ColdCopy {
  step: ColdStep;
  volumes: ColdCopyVolume[];
  /** The volume being sent ('' when none is). */
  current: string;
  /** Volumes the destination has verified. */
  verified: number;
  /** Hole bytes skipped so far (never sent). */
  holeBytes: number;
  keepSource: boolean;
  /** The destination libvirt's URI the definition moves to ('' = the host's dconnuri template). */
  dconnuri: string;
  /** A hibernation's files on the destination, for Restore there (set once the destination placed them). */
  restore?: { path: string; dstparams: string };
}

export interface ColdCopyVolume {
  id: string;
  format: string;
  sourcePath: string;
  /** '' until the destination answered. */
  destinationPath: string;
  capacityBytes: number;
  allocationBytes: number;
}

/** A post-copy that broke and its resumption (postcopy-recovery.ts). */
export interface PostcopyRecovery {
  /** Why it stopped: libvirt's error, or the state the job was found in after a restart. */
  cause: string;
  /** When it was found paused (epoch ms). */
  pausedAt: number;
  /** Automatic attempts end at this time (epoch ms); afterwards the job waits for RecoverMigration. */
  deadlineAt: number;
  /** Resume attempts made since it paused, automatic and asked for. */
  attempts: number;
  /** Why the last attempt failed ('' when none did). */
  lastError: string;
  /** When the next automatic attempt may start, once the migration link is up (epoch ms; 0 when none is planned). */
  nextAttemptAt: number;
  /** Times the post-copy was resumed (a link may break more than once). */
  resumed: number;
}

export function emptyCounters(): DataCounters {
  return { total: 0, processed: 0, remaining: 0 };
}
