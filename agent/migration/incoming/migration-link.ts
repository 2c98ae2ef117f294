/**
 * A destination whose migration NIC is down says so at once instead of
 * letting the source's QEMU wait for a connection that cannot come. Only a
 * migration that would use that NIC is refused: one that falls back to the
 * management network (neither dstqemu nor migration_network given) does not
 * go over it (oVirt's Migration Network feature page: without a migration
 * network, migrations use the management network).
 */
import { FerryError } from '../../../shared/errors.js';
import type { HostNetwork } from '../ports.js';
import type { NetworkRole } from '../types.js';

/** FAILED_PRECONDITION (MIGRATION_NETWORK_DOWN) when the interface carrying `address` cannot carry traffic. */
export async function requireMigrationLinkUp(network: HostNetwork, listen: { address: string; network: NetworkRole }): Promise<void> {
  if (listen.network !== 'migration') return;
  const nic = (await network.configuredAddresses()).find((a) => a.address === listen.address)?.interface;
  // The address was just found among ours; if it vanished meanwhile, the pinhole would say so.
  if (!nic) return;
  const link = await network.linkState(nic);
  if (link.up) return;
  throw new FerryError(
    'FAILED_PRECONDITION',
    `the destination's migration NIC ${nic} (${listen.address}) is down (${link.downReason}): it is ${link.description}; ` +
      'fix its link, or migrate to another host',
    { reason: 'MIGRATION_NETWORK_DOWN' },
  );
}
