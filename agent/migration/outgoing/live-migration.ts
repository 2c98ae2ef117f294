/**
 * The source side of a live migration (mode REMOTE), step by step:
 *   prepare   the destination agent picks its address, port and opens a pinhole
 *             (prepare-outgoing.ts)
 *   perform   libvirt P2P migration to that migrate URI, watched by a monitor
 *   finish    the destination is told the outcome and closes its pinhole
 * On any failure the libvirt job is aborted and the destination told, so the
 * VM keeps running here and no hole stays open: a destination QEMU listening
 * for a migration accepts a stream from anyone who reaches it (libvir-list,
 * "feature suggestion: migration network", January 2013:
 * https://listman.redhat.com/archives/libvir-list/2013-January/thread.html).
 */
import { splitHostPort } from '../../../shared/net.js';
import { FerryError, isFerryError, errorMessage } from '../../../shared/errors.js';
import { failureOf } from '../jobs/failure.js';
import type { JobJournal } from '../jobs/job-journal.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import { nicTrafficSince, readNicBaseline } from './nic-counters.js';
import type { Steering } from '../convergence/steering.js';
import { superviseJob } from '../convergence/supervision.js';
import type {
  Clock,
  HibernationFiles,
  Hypervisor,
  HostNetwork,
  DisplayMove,
  IncomingOffer,
  LiveMigrationPlan,
  PeerAgents,
  SourceVolumes,
  StoragePaths,
  VolumeChannel,
  Tracer,
  VmDisk,
  VmInfo,
} from '../ports.js';
import { inSpan, type TraceSpan } from '../tracing.js';
import type { PostcopyRecoveries } from './postcopy-recovery.js';
import type { JobStats, VmOnSource } from '../types.js';

export interface OutgoingDeps {
  hypervisor: Hypervisor;
  peers: PeerAgents;
  network: HostNetwork;
  /** The saved-state and definition files of mode FILE. */
  hibernationFiles: HibernationFiles;
  /** Whether the VM's disks lie on shared storage (the checks before a migration). */
  storage: StoragePaths;
  clock: Clock;
  /** This host's name, sent to the destination to name the source. */
  hostName: string;
  /**
   * How long a failure path waits, in all, for libvirt to answer again (a
   * restarting libvirtd) before it reports the VM's state as unknown. Each
   * call is bounded by its adapter; this bounds the waiting for the job's end.
   */
  answerWaitMs: number;
  /** How often job statistics are polled while the migration runs. */
  pollIntervalMs: number;
  /** Where jobs survive a restart; without it they live in memory only. */
  journal?: JobJournal;
  /** Fallback P2P URI when the destination does not name one: "{host}" is the dst host. */
  dconnuriTemplate: string;
  /** Spans of every Migrate, job and step (default: none). */
  tracer?: Tracer;
  /** Follows jobs whose post-copy broke (without it such a job ends FAILED). */
  postcopy?: PostcopyRecoveries;
  /** Mode COLD: this host's volumes and the data channel (without them mode COLD is refused). */
  sourceVolumes?: SourceVolumes;
  volumeChannel?: VolumeChannel;
}

/** What prepare hands to perform. */
export interface PreparedMigration {
  offer: IncomingOffer;
  migrationInterface: string;
  memoryBytes: number;
  /** copy_storage: the disks the destination created images for. */
  disks: VmDisk[];
  /** Consoles that listen on an address of this host, moved to the destination's display address. */
  display?: DisplayMove;
}

/**
 * Steps "perform" and "finish". Never throws: the job ends COMPLETED, or
 * FAILED/CANCELLED with a structured error and the VM still on the source.
 */
export async function performOutgoing(job: MigrationJob, prepared: PreparedMigration, deps: OutgoingDeps): Promise<void> {
  const { command } = job;
  const { hypervisor, network } = deps;
  let steering: Steering | undefined;
  let perform: TraceSpan | undefined;
  try {
    if (job.cancellation.signal.aborted) throw new FerryError('CANCELLED', 'the migration was cancelled');
    job.noteNicBaseline(await readNicBaseline(network, prepared.migrationInterface));
    job.setPhase('migrating');
    // A cancel that came while the counters were read saw PREPARING and only
    // raised the signal: nothing has started, so stop here.
    if (job.cancellation.signal.aborted) throw new FerryError('CANCELLED', 'the migration was cancelled');
    const diskBytes = prepared.disks.reduce((sum, d) => sum + d.allocationBytes, 0);
    const supervision = superviseJob(job, deps, { memoryBytes: prepared.memoryBytes, diskBytes });
    steering = supervision.steering;
    try {
      // The MIGRATING record (with the NIC baseline) is on disk before perform is sent, so a
      // restarted agent knows the copy may have begun; the adapter's look-ups overlap the fsync.
      const recorded = deps.journal?.durable(job);
      perform = job.span.child('perform', { attributes: { 'ferry.migrate_uri': prepared.offer.migrateUri } });
      await hypervisor.migrateLive(command.vmId, planFor(job, prepared, deps), recorded !== undefined ? { sendAfter: recorded } : {});
      perform.end();
    } catch (err) {
      perform?.recordError(steering.abortCause ?? err);
      perform?.end();
      throw steering.abortCause ?? err;
    } finally {
      await supervision.stop();
    }
    await finishCompleted(job, deps, await hypervisor.completedJobStats(command.vmId).catch(() => undefined));
  } catch (err) {
    // Not a failure: the guest runs on the destination, its remaining memory waits here.
    if (deps.postcopy && (await deps.postcopy.broke(job))) return deps.postcopy.run(job, errorMessage(err));
    await inSpan(job.span.child('cleanup'), (span) => cleanUpFailed(job, deps, err, steering, span));
  }
}

/** After a failed perform: the destination told, the guest resumed if the schedule paused it, the job FAILED (or COMPLETED after all). */
async function cleanUpFailed(
  job: MigrationJob,
  deps: OutgoingDeps,
  err: unknown,
  steering: Steering | undefined,
  span: TraceSpan,
): Promise<void> {
  const { hypervisor } = deps;
  // What became of the VM is known only once libvirt answers: after a lost
  // connection (libvirtd restarted) that is a while, and it decides the outcome.
  const vm = await vmWhenHypervisorAnswers(job, deps);
  const lostLibvirt = isFerryError(err, 'UNAVAILABLE');
  if (lostLibvirt && vm === 'gone') return completedUnanswered(job, deps);
  await tellDestination(job, deps, false, err, span);
  if (steering?.suspended) await resumeOnSource(job, deps);
  const vmState: VmOnSource =
    vm === undefined
      ? { state: 'unknown', reason: `libvirt did not answer for ${deps.answerWaitMs / 1000} s` }
      : await vmStateOf(job, hypervisor);
  if (lostLibvirt && vmState.state === 'paused') {
    job.warn(
      'the VM is paused on the source after libvirtd lost the migration: make sure it does not run on the destination before resuming it',
    );
  }
  const step = job.cancellation.signal.aborted ? 'cancel' : steering?.abortCause ? 'converge' : 'perform';
  job.fail(failureOf(step, err, vmState));
}

/**
 * The VM as libvirt sees it once it answers again; 'gone' when it is no
 * longer on this host; undefined when libvirt stayed silent for the whole
 * wait (bounded: never waited on forever).
 */
export async function vmWhenHypervisorAnswers(
  job: MigrationJob,
  deps: { hypervisor: Hypervisor; clock: Clock; answerWaitMs: number },
): Promise<VmInfo | 'gone' | undefined> {
  const giveUpAt = deps.clock.now() + deps.answerWaitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await deps.hypervisor.describeVm(job.command.vmId);
    } catch (err) {
      if (isFerryError(err, 'NOT_FOUND')) return 'gone';
      if (!isFerryError(err, 'UNAVAILABLE') && !isFerryError(err, 'DEADLINE_EXCEEDED')) return undefined;
      if (attempt === 1)
        job.warn(
          `${errorMessage(err)}: waiting up to ${deps.answerWaitMs / 1000} s in all for libvirt to answer again, to report what became of the VM`,
        );
      if (deps.clock.now() >= giveUpAt) return undefined;
      await deps.clock.sleep(1000);
    }
  }
}

/**
 * The perform call lost its connection, and the VM has left this host:
 * libvirt removes the source only after the destination confirmed, so the
 * migration completed; only libvirt's answer (and final statistics) is lost.
 */
async function completedUnanswered(job: MigrationJob, deps: OutgoingDeps): Promise<void> {
  job.warn(
    'the connection to libvirtd was lost before it answered, and the VM has left this host: the migration completed (the counters are the last ones seen)',
  );
  await finishCompleted(job, deps, undefined);
}

/**
 * The end of every migration that completed: libvirt's final statistics
 * (when it kept them), the NIC traffic since the copy began, COMPLETED, and
 * then the destination told. The guest runs on the destination, so the
 * caller hears at once; the destination closing its pinhole (which admits no
 * new connection after its short TTL anyway) is no reason to keep it waiting.
 */
export async function finishCompleted(job: MigrationJob, deps: OutgoingDeps, final: JobStats | undefined): Promise<void> {
  await inSpan(job.span.child('switch-over'), async (span) => {
    if (final) {
      job.applyFinalStats(final);
      span.setAttribute('ferry.downtime_ms', final.downtimeMs);
    }
    if (job.nicBaseline) job.update(await nicTrafficSince(deps.network, job.nicBaseline));
  });
  job.setPhase('completed');
  void tellDestination(job, deps, true);
}

/** The schedule paused the guest and the migration failed: it must run again where it is. */
async function resumeOnSource(job: MigrationJob, deps: OutgoingDeps): Promise<void> {
  const { vmId } = job.command;
  const vm = await deps.hypervisor.describeVm(vmId).catch(() => undefined);
  if (vm?.state !== 'paused') return;
  await deps.hypervisor
    .resume(vmId)
    .catch((e: unknown) =>
      job.warn(`the guest was paused by the schedule and could not be resumed on the source: ${errorMessage(e)}; resume it by hand`),
    );
}

/** The VM's state on the source for a job's final status (the adapter bounds the call). */
export async function vmStateOf(job: MigrationJob, hypervisor: Hypervisor): Promise<VmOnSource> {
  return hypervisor.describeVm(job.command.vmId).then(
    (vm): VmOnSource => ({ state: vm.state, reason: '' }),
    (err: unknown): VmOnSource =>
      isFerryError(err, 'NOT_FOUND') ? { state: 'absent', reason: '' } : { state: 'unknown', reason: errorMessage(err) },
  );
}

/** FinishIncoming (a span of `parent`, by default the job's); a failure to tell is a warning, as the pinhole expires by itself. */
export async function tellDestination(
  job: MigrationJob,
  deps: OutgoingDeps,
  success: boolean,
  err?: unknown,
  parent: TraceSpan = job.span,
): Promise<void> {
  const { command } = job;
  const call = parent.child('FinishIncoming', {
    kind: 'client',
    attributes: { 'ferry.destination': command.dst, 'ferry.success': success },
  });
  await deps.peers
    .finishIncoming(command.dst, {
      jobId: job.id,
      vmId: command.vmId,
      success,
      errorMessage: err ? errorMessage(err) : '',
      trace: call.context,
    })
    .catch((e: unknown) => {
      call.recordError(e);
      job.warn(`the destination was not told how the migration ended: ${errorMessage(e)}`);
    })
    .finally(() => call.end());
}

export function planFor(
  job: MigrationJob,
  prepared: Pick<PreparedMigration, 'offer' | 'disks' | 'display'>,
  deps: OutgoingDeps,
): LiveMigrationPlan {
  const { policy, dst } = job.command;
  const { offer } = prepared;
  const host = splitHostPort(dst, 0).host;
  return {
    dconnuri: offer.dconnuri || deps.dconnuriTemplate.replace('{host}', host),
    migrateUri: offer.migrateUri,
    listenAddress: offer.listenAddress,
    bandwidthMibps: policy.maxBandwidthMibps,
    parallelConnections: policy.parallelConnections,
    compression: policy.compression,
    autoConverge: policy.autoConverge,
    postCopy: policy.postCopy,
    encrypted: policy.encrypted,
    copyStorage: policy.copyStorage,
    ...(offer.disksPort ? { disksPort: offer.disksPort } : {}),
    migrateDisks: prepared.disks.map((d) => d.target),
    ...(policy.encrypted ? { tlsDestination: host } : {}),
    initialDowntimeMs: policy.initialDowntimeMs,
    ...(prepared.display ? { display: prepared.display } : {}),
  };
}
