/**
 * Cold migration's last step: a shut-off VM's persistent definition moves to
 * the destination's libvirt by an offline P2P migration, with its disks at
 * the paths the destination chose (the data channel copied them before).
 *
 * What libvirt 9.0 does with VIR_MIGRATE_OFFLINE | VIR_MIGRATE_PEER2PEER
 * (qemuMigrationSrcPerformPeer2Peer3 in src/qemu/qemu_migration.c): Begin on
 * the source (no QEMU; it refuses a domain with snapshots), Prepare on the
 * destination (parses the definition, runs its qemu hook's "migrate begin",
 * checks that no other domain holds the name or UUID, and still picks a
 * migrate URI: a port from its migration range and a host name that must not
 * be "localhost…", although nothing listens), no Perform, then Finish, which
 * saves the definition there. Nothing checks that the disks exist on the
 * destination: that is only checked when the domain starts. The source keeps
 * its definition (no VIR_MIGRATE_UNDEFINE_SOURCE: the core undefines it once
 * the destination has verified its copies).
 */
import { FerryError } from '../../shared/errors.js';
import { constants as c, type ReconnectingClient, type TypedParamInput } from '../libvirt/index.js';
import type { OfflineMigrationPlan } from '../migration/index.js';
import { boundedCall } from './call-deadline.js';
import { relocateDisks } from './disk-relocation.js';

/** The whole offline migration (look-ups, Begin, Prepare, Finish): short, as nothing is copied, but never unbounded. */
export const OFFLINE_MIGRATION_TIMEOUT_MS = 60_000;

/**
 * PERSIST_DEST is required with OFFLINE (libvirt refuses it otherwise,
 * https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainMigrateFlags);
 * no TLS, LIVE or copy-storage flag: there is no migration stream, and libvirt
 * refuses NON_SHARED_* with OFFLINE.
 */
export const OFFLINE_MIGRATE_FLAGS = c.VIR_MIGRATE_OFFLINE | c.VIR_MIGRATE_PERSIST_DEST | c.VIR_MIGRATE_PEER2PEER;

/**
 * The definition's XML flags. INACTIVE: the persistent definition (the next
 * boot's). SECURE: with its secrets (a VNC or SPICE password), which would
 * otherwise be missing from the definition the destination saves.
 * MIGRATABLE: without what libvirt added by default and an older destination
 * might not know (virDomainGetXMLDesc,
 * https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainGetXMLDesc).
 */
export const OFFLINE_XML_FLAGS = c.VIR_DOMAIN_XML_INACTIVE | c.VIR_DOMAIN_XML_SECURE | c.VIR_DOMAIN_XML_MIGRATABLE;

/**
 * destination_xml is what the destination saves in an offline P2P migration:
 * Begin formats it and Prepare parses it, and with no Perform phase no
 * persistent-definition cookie reaches Finish (qemuMigrationDstFinishOffline,
 * qemuMigrationDstPersist), so libvirt 9.0 ignores persistent_xml there (seen
 * on the lab: given two different paths, lab2 saved destination_xml's). Both
 * carry the relocated definition, so whichever a libvirt version saves has
 * the new paths.
 */
export function offlineMigrateParams(relocatedXml: string): TypedParamInput {
  return { [c.VIR_MIGRATE_PARAM_DEST_XML]: relocatedXml, [c.VIR_MIGRATE_PARAM_PERSIST_XML]: relocatedXml };
}

/** Resolves once the destination's libvirt has saved the definition; the source keeps its own. */
export async function performOffline(
  libvirt: ReconnectingClient,
  vmId: string,
  plan: OfflineMigrationPlan,
  timeoutMs = OFFLINE_MIGRATION_TIMEOUT_MS,
): Promise<void> {
  // A connection of its own, as for a live migration (p2p-perform.ts): the
  // call holds a request slot of libvirtd's client for its whole length.
  await boundedCall(timeoutMs, 'offline migration', vmId, () =>
    libvirt.withDedicatedConnection(async (client) => {
      const dom = await client.domainLookupByUUID(vmId);
      const [state, persistent] = await Promise.all([client.domainGetState(dom), client.domainIsPersistent(dom)]);
      // libvirt would not refuse a running VM: under OFFLINE its Begin phase
      // skips the active check and moves the definition alone, while the
      // guest keeps writing to the disks the data channel copied.
      if (state.state !== c.VIR_DOMAIN_SHUTOFF) {
        throw new FerryError(
          'FAILED_PRECONDITION',
          `VM ${vmId} (${dom.name}) is ${state.stateName.replace(/^VIR_DOMAIN_/, '').toLowerCase()}, not shut off: an offline migration moves only a shut-off VM`,
          { subject: `vm/${vmId}` },
        );
      }
      if (!persistent) {
        throw new FerryError('FAILED_PRECONDITION', `VM ${vmId} (${dom.name}) has no persistent definition to migrate`, {
          subject: `vm/${vmId}`,
        });
      }
      const xml = relocateDisks(await client.domainGetXMLDesc(dom, OFFLINE_XML_FLAGS), plan.diskMoves);
      await client.domainMigratePerform3Params(dom, plan.dconnuri, offlineMigrateParams(xml), OFFLINE_MIGRATE_FLAGS, { timeoutMs });
    }),
  );
}
