/**
 * Step "prepare" of a live migration (mode REMOTE) on the source: the VM's
 * facts, the source's migration address, the destination agent's
 * PrepareIncoming (its address, port and pinhole), the route to it. Apart
 * from live-migration.ts because it is the one step that may be retried
 * (a busy destination, admission.ts) and whose errors Migrate's caller
 * hears; perform and finish run once, in the background.
 */
import { FerryError } from '../../../shared/errors.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import { chooseSourceAddress, routeWarnings } from './source-address.js';
import { inSpan, type TraceSpan } from '../tracing.js';
import { imageSpecsOf } from './image-specs.js';
import { askToPrepare } from './ask-prepare.js';
import { tellDestination, type OutgoingDeps, type PreparedMigration } from './live-migration.js';
import { sourceConsoles, type OutgoingFacts } from './migration-check.js';
import { displayMove, noDisplayAddress } from '../checks/source-display.js';

/**
 * Step "prepare": choose the source address, have the destination prepare,
 * check the route. Throws, leaving nothing behind but a pinhole that the
 * destination closes by itself at expiry (and that FinishIncoming closes now).
 */
export function prepareOutgoing(job: MigrationJob, deps: OutgoingDeps, known?: OutgoingFacts): Promise<PreparedMigration> {
  return inSpan(job.span.child('prepare', { attributes: { 'ferry.prepare_attempt': job.snapshot().prepareAttempts + 1 } }), (span) =>
    prepareTraced(job, deps, span, known),
  );
}

async function prepareTraced(job: MigrationJob, deps: OutgoingDeps, span: TraceSpan, known?: OutgoingFacts): Promise<PreparedMigration> {
  const { command } = job;
  const { hypervisor, network } = deps;
  job.setPhase('preparing');
  // Independent look-ups, at once: they are on the path from Migrate to libvirt's perform.
  // `known`: what Migrate's checks have just looked up (no second look).
  const [vm, disks, source, consoles] = await Promise.all([
    known?.vm ?? hypervisor.describeVm(command.vmId),
    known?.disks ?? (command.policy.copyStorage === 'none' ? [] : hypervisor.localDisks(command.vmId)),
    known?.source ?? chooseSourceAddress(command, network),
    known?.consoles ?? sourceConsoles(command.vmId, deps),
  ]);
  if (command.policy.copyStorage !== 'none' && disks.length === 0)
    job.warn(`copy_storage ${command.policy.copyStorage}: the VM has no writable local disk, so no disk is copied`);
  const offer = await askToPrepare(job, deps, span, {
    sourceMigrationAddress: source.address,
    copyStorage: command.policy.copyStorage !== 'none',
    memoryBytes: vm.memoryBytes,
    disks: imageSpecsOf(disks, command.policy.copyStorage),
  });
  span.setAttribute('ferry.migrate_uri', offer.migrateUri);
  try {
    job.update({ migrateUri: offer.migrateUri, network: offer.network, sourceMigrationAddress: source.address });
    // The route chosen for the source address is the one to the listen address when dstqemu was given: no second `ip route get`.
    const route = source.route?.to === offer.listenAddress ? source.route.route : await network.routeTo(offer.listenAddress);
    for (const warning of routeWarnings(offer, route, network.managementInterface())) job.warn(warning);
    // The checks saw a display address; a destination reconfigured since then is refused here, before libvirt starts.
    if (consoles.move.length > 0 && !offer.displayAddress) {
      throw new FerryError('FAILED_PRECONDITION', noDisplayAddress(consoles.move), { reason: 'MIGRATION_CHECK_FAILED' });
    }
    const display = displayMove(consoles, offer.displayAddress);
    if (display) span.setAttribute('ferry.display_address', display.address);
    // Bytes are counted on the NIC that carries the source's migration address: a route that
    // leaves elsewhere (warned above) then shows as bytes on the management NIC, as they are.
    const carrying = network.localAddresses().find((a) => a.address === source.address)?.interface;
    const migrationInterface = carrying ?? route.interface;
    return { offer, migrationInterface, memoryBytes: vm.memoryBytes, disks, ...(display ? { display } : {}) };
  } catch (err) {
    await tellDestination(job, deps, false, err, span);
    throw err;
  }
}
