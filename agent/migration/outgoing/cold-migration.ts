/**
 * The source side of a cold migration (mode COLD), after prepare-cold.ts:
 *   transfer       each volume streamed to the destination agent over the
 *                  migration network (VolumeChannel), verified there one by one
 *   define         the definition follows by libvirt's offline migration
 *                  (VIR_MIGRATE_OFFLINE | PERSIST_DEST), with the disk paths
 *                  the destination chose; its migration hooks run there
 *   remove-source  the source's volumes, hibernation files and definition go,
 *                  unless keep_source
 * This is OpenStack Nova's "use libvirt storage pool methods to migrate
 * libvirt volumes" proposal without SSH between hosts
 * (https://specs.openstack.org/openstack/nova-specs/specs/ocata/approved/use-libvirt-storage-pools.html),
 * with the data between the two agents only, through a pinhole.
 *
 * The step is journaled before it starts, so a restarted agent knows what
 * may be done (cold-recovery.ts). Until the definition has moved, any
 * failure leaves the VM defined and intact here and is undone on the
 * destination (FinishIncoming, success false, removes its volumes); after
 * it, the VM is on the destination and only the source's cleanup is left.
 */
import { FerryError, errorMessage } from '../../../shared/errors.js';
import { failureOf } from '../jobs/failure.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import { SAVED_STATE_VOLUME, type DiskMove, type VolumeTransferProgress } from '../ports.js';
import { inSpan } from '../tracing.js';
import type { ColdCopy, ColdStep } from '../types.js';
import { tellDestination, vmStateOf } from './live-migration.js';
import { nicTrafficSince, readNicBaseline } from './nic-counters.js';
import type { ColdDeps, PreparedColdMigration } from './prepare-cold.js';
import { splitHostPort } from '../../../shared/net.js';

/** How often the job's status takes the transfer's progress (watchers see no more than this). */
const PROGRESS_INTERVAL_MS = 500;

/** Steps transfer to done. Never throws: the job ends COMPLETED, or FAILED/CANCELLED with the VM intact on the source. */
export async function performCold(job: MigrationJob, prepared: PreparedColdMigration, deps: ColdDeps): Promise<void> {
  let step: ColdStep = 'transfer';
  try {
    if (job.cancellation.signal.aborted) throw cancelled();
    job.noteNicBaseline(await readNicBaseline(deps.network, prepared.migrationInterface));
    job.setPhase('migrating');
    await atStep(job, 'transfer', deps);
    await inSpan(job.span.child('transfer', { attributes: { 'ferry.volumes': prepared.volumes.length } }), () =>
      transferVolumes(job, prepared, deps),
    );
    step = 'define';
    if (job.cancellation.signal.aborted) throw cancelled();
    await atStep(job, 'define', deps);
    await inSpan(job.span.child('define'), () => defineOnDestination(job, deps));
  } catch (err) {
    await inSpan(job.span.child('cleanup'), async (span) => {
      await tellDestination(job, deps, false, err, span);
      const failedStep = job.cancellation.signal.aborted ? 'cancel' : step;
      job.fail(failureOf(failedStep, err, await vmStateOf(job, deps.hypervisor)));
    });
    return;
  }
  await finishCold(job, deps);
}

/**
 * After the definition moved: the destination told (it keeps the volumes),
 * the source's copy removed unless kept, COLD done. The VM is on the
 * destination from here on, so nothing here fails the job: what cannot be
 * removed is a warning naming it.
 */
export async function finishCold(job: MigrationJob, deps: ColdDeps): Promise<void> {
  await tellDestination(job, deps, true);
  if (!job.command.keepSource) {
    await atStep(job, 'remove-source', deps);
    await inSpan(job.span.child('remove source'), () => removeSource(job, deps));
  }
  const copy = coldCopy(job);
  job.noteColdCopy({ ...copy, step: 'done', current: '' });
  if (job.nicBaseline) job.update(await nicTrafficSince(deps.network, job.nicBaseline));
  job.setPhase('completed');
}

/** The offline migration, to the destination's libvirt, with each volume at the path the destination chose. */
export async function defineOnDestination(job: MigrationJob, deps: ColdDeps): Promise<void> {
  const moves: DiskMove[] = coldCopy(job)
    .volumes.filter((v) => v.id !== SAVED_STATE_VOLUME && v.destinationPath !== v.sourcePath)
    .map((v) => ({ from: v.sourcePath, to: v.destinationPath }));
  const host = splitHostPort(job.command.dst, 0).host;
  const dconnuri = coldCopy(job).dconnuri || deps.dconnuriTemplate.replace('{host}', host);
  await deps.hypervisor.migrateOffline(job.command.vmId, { dconnuri, diskMoves: moves });
}

async function transferVolumes(job: MigrationJob, prepared: PreparedColdMigration, deps: ColdDeps): Promise<void> {
  const { offer, volumes } = prepared;
  const placed = new Map(offer.transfer.placements.map((p) => [p.id, p.path]));
  for (const v of volumes) {
    if (!placed.has(v.id)) throw new FerryError('INTERNAL', `the destination placed no path for volume ${v.id} (${v.path})`);
  }
  const rate = new RateMeter(deps.clock.now());
  let last = 0;
  const onProgress = (progress: VolumeTransferProgress) => {
    const now = deps.clock.now();
    const boundary = progress.current !== coldCopy(job).current || progress.verified !== coldCopy(job).verified;
    if (!boundary && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    const copy = coldCopy(job);
    job.noteColdCopy(
      { ...copy, current: progress.current, verified: progress.verified, holeBytes: progress.holeBytes },
      { dataBytes: progress.dataBytes, bandwidthBytesPerS: rate.sample(now, progress.dataBytes) },
    );
  };
  await deps.volumeChannel.send({
    address: offer.listenAddress,
    port: offer.port,
    localAddress: prepared.sourceAddress,
    token: offer.transfer.token,
    volumes: volumes.map((v) => ({ id: v.id, path: v.path, streamBytes: v.streamBytes })),
    maxBandwidthMibps: () => job.maxBandwidthMibps,
    signal: job.cancellation.signal,
    onProgress,
  });
  job.noteColdCopy({ ...coldCopy(job), current: '', verified: volumes.length });
}

/** The source's copy, once the destination has its own: volumes, hibernation files, definition. */
async function removeSource(job: MigrationJob, deps: ColdDeps): Promise<void> {
  const copy = coldCopy(job);
  const volumes = copy.volumes.map((v) => v.sourcePath);
  await deps.sourceVolumes
    .remove(volumes)
    .catch((err: unknown) =>
      job.warn(`the source's volumes could not all be removed (${errorMessage(err)}): remove ${volumes.join(', ')} by hand`),
    );
  if (job.command.dstparams) {
    await deps.hibernationFiles
      .remove(job.command.dstparams)
      .catch((err: unknown) => job.warn(`the hibernation definition ${job.command.dstparams} could not be removed: ${errorMessage(err)}`));
  }
  await deps.hypervisor
    .undefine(job.command.vmId)
    .catch((err: unknown) =>
      job.warn(
        `the VM's definition could not be removed from the source (${errorMessage(err)}): undefine it by hand, and never start it here`,
      ),
    );
}

/** Journals the step before it starts: a restart must know whether the definition may have moved. */
async function atStep(job: MigrationJob, step: ColdStep, deps: ColdDeps): Promise<void> {
  job.noteColdCopy({ ...coldCopy(job), step });
  await deps.journal?.durable(job);
}

function coldCopy(job: MigrationJob): ColdCopy {
  const copy = job.snapshot().coldCopy;
  if (!copy) throw new FerryError('INTERNAL', `job ${job.id} is a cold migration without its volumes`);
  return copy;
}

function cancelled(): FerryError {
  return new FerryError('CANCELLED', 'the cold migration was cancelled');
}

/** Bytes per second over the last few seconds of samples. */
class RateMeter {
  private samples: { at: number; bytes: number }[];

  constructor(now: number) {
    this.samples = [{ at: now, bytes: 0 }];
  }

  sample(at: number, bytes: number): number {
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && at - (this.samples[0]?.at ?? at) > 5000) this.samples.shift();
    const first = this.samples[0] ?? { at, bytes };
    const seconds = (at - first.at) / 1000;
    return seconds > 0 ? Math.round((bytes - first.bytes) / seconds) : 0;
  }
}
