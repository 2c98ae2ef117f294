/**
 * The destination side of a cold migration (mode COLD): PrepareIncoming
 * places and creates each volume through libvirt's storage pools, then waits
 * behind the pinhole for the source agent's data channel (VolumeChannel),
 * which verifies every volume before it is finished. A hibernation that
 * travels gets its definition file written here once its saved state
 * arrived, with the disks' new paths, so Restore finds it.
 *
 * Nothing half-copied outlives a failure: a transfer that fails (the source
 * cancelled, died, or sent something that does not verify) removes the
 * volumes at once, and so does FinishIncoming with success false (which
 * also undefines the VM if the offline migration defined it here: prepare
 * refused a VM that was already defined). Verified volumes stay until the
 * source says how it ended, across a restart too (restart-reservations.ts).
 */
import path from 'node:path';
import { FerryError, errorMessage } from '../../../shared/errors.js';
import { parseDefinition, type DefinitionFile } from '../hibernation-definition.js';
import {
  SAVED_STATE_VOLUME,
  type ColdIncoming,
  type DestinationVolumes,
  type HibernationFiles,
  type Hypervisor,
  type PrepareIncomingArgs,
  type TransferOffer,
  type VolumeChannel,
  type VolumePlacement,
} from '../ports.js';
import type { IncomingRecord } from './reservations.js';

/** What the destination needs for cold migrations (without it, PrepareIncoming refuses mode COLD). */
export interface ColdIncomingPorts {
  volumes: DestinationVolumes;
  channel: VolumeChannel;
  files: HibernationFiles;
  hypervisor: Pick<Hypervisor, 'describeVm' | 'undefine' | 'relocateDisks'>;
  /** Logs what the source cannot see (a refused connection, a transfer that failed here). */
  warn?: (message: string, fields: Record<string, unknown>) => void;
}

/** The volumes placed and created, before the pinhole opens. */
export interface PlacedCold {
  placements: VolumePlacement[];
  /** Where a travelling hibernation's definition file goes ('' when none travels). */
  definitionPath: string;
}

/** Refuses a VM already defined here, places every volume (and a hibernation's definition) and creates the volumes. */
export async function placeCold(args: PrepareIncomingArgs, cold: ColdIncoming, ports: ColdIncomingPorts): Promise<PlacedCold> {
  await requireNotDefined(args.vmId, ports);
  const placements = await ports.volumes.place(args.vmId, cold.volumes);
  const definitionPath = cold.hibernation ? await placeDefinition(cold, placements, ports.files) : '';
  await ports.volumes.create(cold.volumes, placements);
  return { placements, definitionPath };
}

/**
 * Starts waiting for the source's connection on `address:port` (the pinhole
 * is open). `received` settles once the transfer ended: true when every
 * volume verified (and the definition file was written), false once the
 * volumes were removed again. Never rejects.
 */
export async function receiveCold(
  args: PrepareIncomingArgs,
  cold: ColdIncoming,
  placed: PlacedCold,
  at: { address: string; port: number; arrivalTimeoutMs: number; signal: AbortSignal },
  ports: ColdIncomingPorts,
): Promise<{ transfer: TransferOffer; received: Promise<boolean> }> {
  const byId = new Map(cold.volumes.map((v) => [v.id, v]));
  const receiving = await ports.channel.receive({
    address: at.address,
    port: at.port,
    source: { address: args.sourceMigrationAddress, host: args.sourceHost },
    volumes: placed.placements.map((p) => {
      const volume = byId.get(p.id);
      if (!volume) throw new FerryError('INTERNAL', `volume ${p.id} was placed but not asked for`);
      return { id: p.id, path: p.path, format: volume.format, streamBytes: volume.streamBytes };
    }),
    arrivalTimeoutMs: at.arrivalTimeoutMs,
    signal: at.signal,
    onRefused: (reason) => ports.warn?.('cold migration: a connection to the data channel was refused', { job_id: args.jobId, reason }),
  });
  const received = receiving.done
    .then(async () => {
      if (cold.hibernation) await writeDefinition(cold, placed, ports);
      return true;
    })
    .catch(async (err: unknown) => {
      ports.warn?.('cold migration: the transfer failed; the volumes created for it are removed', {
        job_id: args.jobId,
        vm_id: args.vmId,
        error: errorMessage(err),
      });
      await dropCold(
        placed.placements.map((p) => p.path),
        placed.definitionPath,
        ports,
      );
      return false;
    });
  return { transfer: { token: receiving.token, placements: placed.placements, definitionPath: placed.definitionPath }, received };
}

/**
 * A cold migration that will not complete: its volumes and definition file
 * removed. With `undefine`, also the VM's definition if the offline
 * migration already brought it (only shut off: prepare refused a VM defined here).
 */
export async function dropCold(
  volumes: readonly string[],
  definitionPath: string,
  ports: ColdIncomingPorts,
  undefineVm?: string,
): Promise<void> {
  await ports.volumes
    .remove(volumes)
    .catch((err: unknown) => ports.warn?.('cold migration: volumes not removed', { error: errorMessage(err) }));
  if (definitionPath) await ports.files.remove(definitionPath).catch(() => undefined);
  if (undefineVm) {
    await ports.hypervisor
      .undefine(undefineVm)
      .catch((err: unknown) =>
        ports.warn?.('cold migration: the VM defined here was not undefined', { vm_id: undefineVm, error: errorMessage(err) }),
      );
  }
}

/** What a journaled cold reception leaves to remove when it never completed. */
export function coldLeftovers(record: IncomingRecord): { volumes: string[]; definitionPath: string } | undefined {
  if (!record.cold || record.cold.received) return undefined;
  return { volumes: record.images, definitionPath: record.cold.definitionPath };
}

async function requireNotDefined(vmId: string, ports: ColdIncomingPorts): Promise<void> {
  const vm = await ports.hypervisor.describeVm(vmId).catch((err: unknown) => {
    if (err instanceof FerryError && err.kind === 'NOT_FOUND') return undefined;
    throw err;
  });
  if (vm) {
    throw new FerryError(
      'ALREADY_EXISTS',
      `VM ${vmId} is already defined on this host (${vm.name}, ${vm.state}): undefine it here first, or move the VM elsewhere`,
      { field: 'vm_id', reason: 'VM_ALREADY_DEFINED', subject: `vm/${vmId}` },
    );
  }
}

/** The definition file goes beside the saved state, under the name it has on the source. */
async function placeDefinition(cold: ColdIncoming, placements: readonly VolumePlacement[], files: HibernationFiles): Promise<string> {
  const state = placements.find((p) => p.id === SAVED_STATE_VOLUME);
  const hibernation = cold.hibernation;
  if (!state || !hibernation)
    throw new FerryError('INVALID_ARGUMENT', 'a hibernation travels without its saved-state volume', { field: 'cold' });
  const target = path.join(path.dirname(state.path), path.basename(hibernation.path));
  if (await files.exists(target)) {
    throw new FerryError(
      'ALREADY_EXISTS',
      `the hibernation definition ${target} already exists on this host: remove it, or move the VM elsewhere`,
      {
        field: 'dstparams',
        reason: 'FILE_EXISTS',
      },
    );
  }
  return target;
}

/** The hibernation's definition as Restore reads it here: the saved state's new path, the disks' new paths. */
async function writeDefinition(cold: ColdIncoming, placed: PlacedCold, ports: ColdIncomingPorts): Promise<void> {
  const hibernation = cold.hibernation;
  if (!hibernation) return;
  const source = parseDefinition(hibernation.content, hibernation.path, 'cold.hibernation');
  const moves = placed.placements
    .filter((p) => p.id !== SAVED_STATE_VOLUME && p.path !== p.sourcePath)
    .map((p) => ({ from: p.sourcePath, to: p.path }));
  const state = placed.placements.find((p) => p.id === SAVED_STATE_VOLUME);
  const definition: DefinitionFile = {
    ...source,
    statePath: state?.path ?? source.statePath,
    domainXml: ports.hypervisor.relocateDisks(source.domainXml, moves),
    ...(moves.length > 0 ? { relocatedFrom: source.statePath } : {}),
  };
  await ports.files.write(placed.definitionPath, JSON.stringify(definition, null, 2));
}
