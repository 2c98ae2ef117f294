/**
 * The source side of a live migration (mode REMOTE), step by step:
 *   prepare   the destination agent picks its address, port and opens a pinhole
 *   perform   libvirt P2P migration to that migrate URI, watched by a monitor
 *   finish    the destination is told the outcome and closes its pinhole
 * On any failure the libvirt job is aborted and the destination told, so the
 * VM keeps running here and no hole stays open (seed 000's threat model).
 */
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

export async function runOutgoingMigration(job: MigrationJob, deps: OutgoingDeps): Promise<void> {
  const { command } = job;
  const { hypervisor, peers, network } = deps;
  let step = 'prepare';
  let offer: IncomingOffer | undefined;
  try {
    job.setPhase('preparing');
    const vm = await withDeadline(hypervisor.describeVm(command.vmId), deps.callTimeoutMs, 'libvirt (describe VM)');
    const source = await chooseSourceAddress(command, network);
    offer = await withDeadline(
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
    job.update({ migrateUri: offer.migrateUri, network: offer.network, sourceMigrationAddress: source.address });
    const route = await network.routeTo(offer.listenAddress);
    for (const warning of routeWarnings(offer, route, network.managementInterface())) job.warn(warning);
    throwIfCancelled(job);

    step = 'perform';
    const counters = await readCounters(network, route.interface);
    job.setPhase('migrating');
    const monitor = startMonitor(job, hypervisor, deps);
    try {
      await hypervisor.migrateLive(command.vmId, planFor(job, offer, deps));
    } finally {
      await monitor.stop();
    }
    const final = await hypervisor.completedJobStats(command.vmId).catch(() => undefined);
    if (final) job.applyFinalStats(final);
    job.update(await counters.delta());

    step = 'finish';
    await withDeadline(
      peers.finishIncoming(command.dst, { jobId: job.id, vmId: command.vmId, success: true, errorMessage: '' }),
      deps.callTimeoutMs,
      `destination agent ${command.dst} (FinishIncoming)`,
    ).catch((err: unknown) => job.warn(`the destination was not told of the completion: ${messageOf(err)}`));
    job.setPhase('completed');
  } catch (err) {
    if (offer) {
      await withDeadline(
        peers.finishIncoming(command.dst, { jobId: job.id, vmId: command.vmId, success: false, errorMessage: messageOf(err) }),
        deps.callTimeoutMs,
        'FinishIncoming',
      ).catch(() => undefined); // its pinhole closes by itself at expiry
    }
    const vmState = await hypervisor
      .describeVm(command.vmId)
      .then((vm) => `${vm.state} on source`)
      .catch(() => 'unknown');
    job.fail(failureOf(job.cancellation.signal.aborted ? 'cancel' : step, err, vmState));
  }
}

function planFor(job: MigrationJob, offer: IncomingOffer, deps: OutgoingDeps): LiveMigrationPlan {
  const { policy, dst } = job.command;
  const host = dst.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
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

function throwIfCancelled(job: MigrationJob): void {
  if (job.cancellation.signal.aborted) throw new FerryError('CANCELLED', 'the migration was cancelled');
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
