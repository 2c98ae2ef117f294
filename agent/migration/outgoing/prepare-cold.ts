/**
 * Step "prepare" of a cold migration (mode COLD) on the source: the shut-off
 * VM's volumes through libvirt's storage pools, a hibernation's saved state
 * when dstparams names one, the source's migration address, and the
 * destination agent's PrepareIncoming (where each volume goes, the port of
 * the data channel behind its pinhole, the token). The counterpart of
 * prepare-outgoing.ts: the same retry on a busy destination (admission.ts),
 * the same errors for Migrate's caller.
 */
import { FerryError } from '../../../shared/errors.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import {
  NO_COLD_MIGRATION,
  SAVED_STATE_VOLUME,
  type ColdVolume,
  type HibernationDefinition,
  type IncomingOffer,
  type SourceVolumes,
  type TransferOffer,
  type VolumeChannel,
} from '../ports.js';
import { inSpan, type TraceSpan } from '../tracing.js';
import type { ColdCopy } from '../types.js';
import { parseDefinition } from '../hibernation-definition.js';
import { askToPrepare } from './ask-prepare.js';
import { tellDestination, type OutgoingDeps } from './live-migration.js';
import { chooseSourceAddress, routeWarnings } from './source-address.js';

/** What the source needs beyond a live migration's ports. */
export interface ColdDeps extends OutgoingDeps {
  sourceVolumes: SourceVolumes;
  volumeChannel: VolumeChannel;
}

/** What prepare hands to the transfer. */
export interface PreparedColdMigration {
  offer: IncomingOffer & { transfer: TransferOffer };
  volumes: ColdVolume[];
  sourceAddress: string;
  migrationInterface: string;
  /** The hibernation that travels, when dstparams named one. */
  hibernation?: HibernationDefinition;
}

/** The ports of cold migration, or FAILED_PRECONDITION when this agent was started without them. */
export function coldDeps(deps: OutgoingDeps & Partial<ColdDeps>): ColdDeps {
  const { sourceVolumes, volumeChannel } = deps;
  if (!sourceVolumes || !volumeChannel) {
    throw new FerryError('FAILED_PRECONDITION', NO_COLD_MIGRATION, {
      field: 'mode',
      reason: 'HOST_FEATURE_MISSING',
    });
  }
  return { ...deps, sourceVolumes, volumeChannel };
}

export function prepareCold(job: MigrationJob, deps: ColdDeps): Promise<PreparedColdMigration> {
  return inSpan(job.span.child('prepare', { attributes: { 'ferry.prepare_attempt': job.snapshot().prepareAttempts + 1 } }), (span) =>
    prepareTraced(job, deps, span),
  );
}

async function prepareTraced(job: MigrationJob, deps: ColdDeps, span: TraceSpan): Promise<PreparedColdMigration> {
  const { command } = job;
  const { hypervisor, network } = deps;
  job.setPhase('preparing');
  const [vm, disks, source, hibernation, needs] = await Promise.all([
    hypervisor.describeVm(command.vmId),
    hypervisor.localDisks(command.vmId),
    chooseSourceAddress(command, network),
    hibernationOf(job, deps),
    hypervisor.requirements(command.vmId),
  ]);
  if (vm.state !== 'shutoff') throw notShutOff(command.vmId, vm.name, vm.state);
  if (needs.hostState.length > 0) throw stateLeftBehind(command.vmId, vm.name, needs.hostState);
  const files = disks.map((d) => ({ id: d.target, path: d.path }));
  if (hibernation) files.push({ id: SAVED_STATE_VOLUME, path: parseDefinition(hibernation.content, hibernation.path).statePath });
  const volumes = await inSpan(span.child('describe volumes'), () => deps.sourceVolumes.describe(files));
  const offer = await askToPrepare(job, deps, span, {
    sourceMigrationAddress: source.address,
    copyStorage: false,
    memoryBytes: vm.memoryBytes,
    cold: { volumes, ...(hibernation ? { hibernation } : {}) },
  });
  try {
    const { transfer } = offer;
    if (!transfer) {
      throw new FerryError(
        'FAILED_PRECONDITION',
        `the destination agent ${command.dst} does not take cold migrations (its PrepareIncoming answered no data channel): upgrade it`,
        { reason: 'HOST_FEATURE_MISSING' },
      );
    }
    job.update({ sourceMigrationAddress: source.address, network: offer.network });
    const route = source.route?.to === offer.listenAddress ? source.route.route : await network.routeTo(offer.listenAddress);
    for (const warning of routeWarnings(offer, route, network.managementInterface())) job.warn(warning);
    job.noteColdCopy(coldCopyOf(job, volumes, offer.dconnuri, transfer));
    const carrying = network.localAddresses().find((a) => a.address === source.address)?.interface;
    return {
      offer: { ...offer, transfer },
      volumes,
      sourceAddress: source.address,
      migrationInterface: carrying ?? route.interface,
      ...(hibernation ? { hibernation } : {}),
    };
  } catch (err) {
    await tellDestination(job, deps, false, err, span);
    throw err;
  }
}

/** dstparams of a COLD request: the hibernation definition file, read here (INVALID_ARGUMENT when it is not one). */
async function hibernationOf(job: MigrationJob, deps: ColdDeps): Promise<HibernationDefinition | undefined> {
  const path = job.command.dstparams;
  if (!path) return undefined;
  const content = await deps.hibernationFiles.read(path);
  if (content === undefined) {
    throw new FerryError('NOT_FOUND', `dstparams: no hibernation definition file at ${path} on this host`, {
      field: 'dstparams',
      reason: 'FILE_NOT_FOUND',
    });
  }
  const definition = parseDefinition(content, path);
  if (definition.vmId !== job.command.vmId) {
    throw new FerryError('INVALID_ARGUMENT', `dstparams: ${path} is the hibernation of VM ${definition.vmId}, not of ${job.command.vmId}`, {
      field: 'dstparams',
    });
  }
  return { path, content };
}

export function notShutOff(vmId: string, name: string, state: string): FerryError {
  return new FerryError(
    'FAILED_PRECONDITION',
    `VM ${vmId} (${name}) is ${state}: a cold migration (mode COLD) moves a shut-off VM; shut it down first, or migrate it live (mode REMOTE)`,
    { field: 'vm_id', reason: 'VM_NOT_SHUT_OFF', subject: `vm/${vmId}` },
  );
}

/** Per-host state the definition does not carry: moving the VM without it would lose it, so nothing starts. */
function stateLeftBehind(vmId: string, name: string, state: readonly string[]): FerryError {
  return new FerryError(
    'FAILED_PRECONDITION',
    `VM ${vmId} (${name}) keeps ${state.join(' and ')} on this host, which a cold migration does not move: migrate it live (mode REMOTE) after starting it, or copy that state to the destination by hand`,
    { field: 'vm_id', reason: 'STORAGE_FAILED', subject: `vm/${vmId}` },
  );
}

function coldCopyOf(job: MigrationJob, volumes: readonly ColdVolume[], dconnuri: string, transfer: TransferOffer): ColdCopy {
  const placed = new Map(transfer.placements.map((p) => [p.id, p.path]));
  const state = transfer.placements.find((p) => p.id === SAVED_STATE_VOLUME);
  return {
    step: 'transfer',
    volumes: volumes.map((v) => ({
      id: v.id,
      format: v.format,
      sourcePath: v.path,
      destinationPath: placed.get(v.id) ?? '',
      capacityBytes: v.capacityBytes,
      allocationBytes: v.allocationBytes,
    })),
    current: '',
    verified: 0,
    holeBytes: 0,
    keepSource: job.command.keepSource,
    dconnuri,
    ...(state && transfer.definitionPath ? { restore: { path: state.path, dstparams: transfer.definitionPath } } : {}),
  };
}
