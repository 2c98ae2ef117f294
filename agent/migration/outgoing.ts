/**
 * The source side of a live migration (mode REMOTE), step by step:
 *   prepare   the destination agent picks its address, port and opens a pinhole
 *   perform   libvirt P2P migration to that migrate URI, watched by a monitor
 *   finish    the destination is told the outcome and closes its pinhole
 * On any failure the libvirt job is aborted and the destination told, so the
 * VM keeps running here and no hole stays open (seed 000's threat model).
 */
import { splitHostPort } from '../../shared/net.js';
import { FerryError } from '../../shared/errors.js';
import { withDeadline } from './deadline.js';
import { failureOf } from './failure.js';
import type { MigrationJob } from './migration-job.js';
import { startMonitor } from './monitor.js';
import { chooseSourceAddress, routeWarnings } from './source-address.js';
import type { Clock, Hypervisor, HostNetwork, IncomingOffer, LiveMigrationPlan, PeerAgents } from './ports.js';

export interface OutgoingDeps {
  hypervisor: Hypervisor;
  peers: PeerAgents;
  network: HostNetwork;
  clock: Clock;
  /** This host's name, sent to the destination to name the source. */
  hostName: string;
  /** Deadline of each libvirt or peer call (not of the migration itself). */
  callTimeoutMs: number;
  /** How often job statistics are polled while the migration runs. */
  pollIntervalMs: number;
  /** Fallback P2P URI when the destination does not name one: "{host}" is the dst host. */
  destinationUriTemplate: string;
}

/** What prepare hands to perform. */
export interface PreparedMigration {
  offer: IncomingOffer;
  migrationInterface: string;
}

/**
 * Step "prepare": choose the source address, have the destination prepare,
 * check the route. Throws, leaving nothing behind but a pinhole that the
 * destination closes by itself at expiry (and that FinishIncoming closes now).
 */
export async function prepareOutgoing(job: MigrationJob, deps: OutgoingDeps): Promise<PreparedMigration> {
  const { command } = job;
  const { hypervisor, peers, network } = deps;
  job.setPhase('preparing');
  const vm = await withDeadline(hypervisor.describeVm(command.vmId), deps.callTimeoutMs, 'libvirt (describe VM)');
  const source = await chooseSourceAddress(command, network);
  const offer = await withDeadline(
    peers.prepareIncoming(command.dst, {
      vmId: command.vmId,
      jobId: job.id,
      sourceHost: deps.hostName,
      sourceMigrationAddress: source.address,
      dstqemu: command.dstqemu,
      migrationNetwork: command.migrationNetwork,
      copyStorage: command.policy.copyStorage !== 'none',
      memoryBytes: vm.memoryBytes,
    }),
    deps.callTimeoutMs,
    `destination agent ${command.dst} (PrepareIncoming)`,
  );
  try {
    job.update({ migrateUri: offer.migrateUri, network: offer.network, sourceMigrationAddress: source.address });
    const route = await network.routeTo(offer.listenAddress);
    for (const warning of routeWarnings(offer, route, network.managementInterface())) job.warn(warning);
    return { offer, migrationInterface: route.interface };
  } catch (err) {
    await tellDestination(job, deps, false, err);
    throw err;
  }
}

/**
 * Steps "perform" and "finish". Never throws: the job ends COMPLETED, or
 * FAILED/CANCELLED with a structured error and the VM still on the source.
 */
export async function performOutgoing(job: MigrationJob, prepared: PreparedMigration, deps: OutgoingDeps): Promise<void> {
  const { command } = job;
  const { hypervisor, network } = deps;
  try {
    if (job.cancellation.signal.aborted) throw new FerryError('CANCELLED', 'the migration was cancelled');
    const counters = await readCounters(network, prepared.migrationInterface);
    job.setPhase('migrating');
    let stall: FerryError | undefined;
    const monitor = startMonitor(job, hypervisor, {
      ...deps,
      onStall: (ms) => {
        stall = new FerryError('DEADLINE_EXCEEDED', `no progress for ${Math.round(ms / 1000)} s (data remaining reached no new low): the migration was aborted`);
        void withDeadline(hypervisor.abortJob(command.vmId, { postcopy: false }), deps.callTimeoutMs, 'libvirt (abort job)')
          .catch((e: unknown) => job.warn(`aborting the stalled migration failed: ${messageOf(e)}`));
      },
    });
    try {
      await hypervisor.migrateLive(command.vmId, planFor(job, prepared.offer, deps));
    } catch (err) {
      throw stall ?? err;
    } finally {
      await monitor.stop();
    }
    const final = await hypervisor.completedJobStats(command.vmId).catch(() => undefined);
    if (final) job.applyFinalStats(final);
    job.update(await counters.delta());
    await tellDestination(job, deps, true);
    job.setPhase('completed');
  } catch (err) {
    await tellDestination(job, deps, false, err);
    job.fail(failureOf(job.cancellation.signal.aborted ? 'cancel' : 'perform', err, await vmStateOf(job, hypervisor)));
  }
}

/** For a job that waited in QUEUED: prepare and perform, all in the background. */
export async function runOutgoingMigration(job: MigrationJob, deps: OutgoingDeps): Promise<void> {
  let prepared: PreparedMigration;
  try {
    prepared = await prepareOutgoing(job, deps);
  } catch (err) {
    job.fail(failureOf('prepare', err, await vmStateOf(job, deps.hypervisor)));
    return;
  }
  await performOutgoing(job, prepared, deps);
}

export async function vmStateOf(job: MigrationJob, hypervisor: Hypervisor): Promise<string> {
  return hypervisor.describeVm(job.command.vmId).then((vm) => `${vm.state} on source`, () => 'unknown');
}

/** FinishIncoming; a failure to tell is a warning, as the pinhole expires by itself. */
async function tellDestination(job: MigrationJob, deps: OutgoingDeps, success: boolean, err?: unknown): Promise<void> {
  const { command } = job;
  await withDeadline(
    deps.peers.finishIncoming(command.dst, { jobId: job.id, vmId: command.vmId, success, errorMessage: err ? messageOf(err) : '' }),
    deps.callTimeoutMs,
    `destination agent ${command.dst} (FinishIncoming)`,
  ).catch((e: unknown) => job.warn(`the destination was not told how the migration ended: ${messageOf(e)}`));
}

function planFor(job: MigrationJob, offer: IncomingOffer, deps: OutgoingDeps): LiveMigrationPlan {
  const { policy, dst } = job.command;
  const host = splitHostPort(dst, 0).host;
  return {
    destinationUri: offer.destinationUri || deps.destinationUriTemplate.replace('{host}', host),
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
    ...(policy.encrypted ? { tlsDestination: host } : {}),
    initialDowntimeMs: policy.initialDowntimeMs,
  };
}

/** NIC transmit counters before the copy, to tell afterwards which NIC carried it. */
async function readCounters(network: HostNetwork, migrationIface: string) {
  const managementIface = network.managementInterface() ?? migrationIface;
  const read = (iface: string) => network.txBytes(iface).catch(() => 0);
  const before = { migration: await read(migrationIface), management: await read(managementIface) };
  return {
    async delta() {
      return {
        bytesOnMigrationNic: Math.max(0, (await read(migrationIface)) - before.migration),
        bytesOnManagementNic: Math.max(0, (await read(managementIface)) - before.management),
      };
    },
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
