/**
 * A migration network given as a CIDR (`migration_network`) names one address
 * per host: the one the pinhole admits on the source side and QEMU listens on
 * on the destination side. None, or several, is for the operator to fix; the
 * agent does not guess (oVirt's Migration Network feature page makes the same
 * choice: one migration address per host).
 */
import { FerryError } from '../../shared/errors.js';
import { addressesInCidr } from '../../shared/net.js';

/**
 * The only address of `local` inside `cidr`. `host` names whose addresses
 * these are in the error ("this host", "the destination"); `whenNone` is the
 * advice for a host without one.
 */
export function onlyAddressIn<T extends { address: string }>(local: readonly T[], cidr: string, host: string, whenNone = ''): T {
  const inside = addressesInCidr(local, cidr);
  const [only] = inside;
  if (only !== undefined && inside.length === 1) return only;
  throw new FerryError(
    'FAILED_PRECONDITION',
    inside.length === 0
      ? `${host} has no address in migration_network ${cidr}${whenNone ? `: ${whenNone}` : ''}`
      : `${host} has ${inside.length} addresses in migration_network ${cidr} (${inside.map((a) => a.address).join(', ')}): give dstqemu instead`,
    { field: 'migration_network', reason: 'NO_MIGRATION_ADDRESS' },
  );
}
