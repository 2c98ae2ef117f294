/**
 * Removing a shut-off VM's definition, and nothing else: after a cold
 * migration the source's copy goes (its volumes are the volume port's
 * business), and a destination takes back a definition it received for a
 * migration that failed. Idempotent: a VM that is not defined is done.
 */
import { FerryError } from '../../shared/errors.js';
import { constants as c, isNoDomain, type LibvirtClient } from '../libvirt/index.js';

/**
 * virDomainUndefineFlags' flags (qemuDomainUndefineFlags in libvirt 9.0's
 * src/qemu/qemu_driver.c refuses, VIR_ERR_OPERATION_INVALID, whatever a flag
 * left out would delete; https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainUndefineFlagsValues):
 *
 * - KEEP_NVRAM: the UEFI variables file (boot entries, Secure Boot keys) is
 *   the guest's state, and neither offline migration ("may not copy ... UEFI
 *   variables", virDomainMigrateFlags) nor Ferry's data channel carries it:
 *   deleting it here could lose the only copy. Without a flag libvirt refuses
 *   to undefine a domain that has one.
 * - KEEP_TPM: likewise the emulated TPM's state (swtpm), which libvirt would
 *   otherwise delete by default (qemuTPMEmulatorCleanupHost, src/qemu/qemu_tpm.c).
 *   libvirt older than 8.9 rejects the flag: it fails rather than deletes.
 * - CHECKPOINTS_METADATA: libvirt's records of incremental-backup
 *   checkpoints; offline migration does not refuse a domain with them, and
 *   without the flag undefine would. Their bitmaps stay inside the qcow2
 *   images; the records mean nothing once the VM lives elsewhere.
 * - No MANAGED_SAVE: a managed-save image is a suspended guest's memory;
 *   libvirt then refuses (FAILED_PRECONDITION) rather than Ferry deleting it.
 * - No SNAPSHOTS_METADATA: libvirt refuses to migrate a domain with snapshots
 *   (qemuMigrationSrcIsAllowed, src/qemu/qemu_migration.c), so a cold-migrated
 *   VM has none; any other VM with snapshots is refused rather than losing the
 *   only record of its external snapshot chain.
 */
export const UNDEFINE_FLAGS =
  c.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM | c.VIR_DOMAIN_UNDEFINE_KEEP_TPM | c.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA;

export async function undefineShutOff(client: LibvirtClient, vmId: string): Promise<void> {
  try {
    const dom = await client.domainLookupByUUID(vmId);
    const state = await client.domainGetState(dom);
    // libvirt would undefine a running VM too, leaving it transient (it
    // vanishes when it stops). A VM started between this check and the call
    // below meets the same fate: libvirt has no flag to refuse an active domain.
    if (state.state !== c.VIR_DOMAIN_SHUTOFF) {
      throw new FerryError(
        'FAILED_PRECONDITION',
        `VM ${vmId} (${dom.name}) is ${state.stateName.replace(/^VIR_DOMAIN_/, '').toLowerCase()}, not shut off: its definition stays`,
        { subject: `vm/${vmId}` },
      );
    }
    await client.domainUndefine(dom, UNDEFINE_FLAGS);
  } catch (err) {
    if (isNoDomain(err)) return; // not defined (any more): what was asked
    throw err;
  }
}
