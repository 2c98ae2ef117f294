/**
 * Where the destination QEMU listens: dstqemu if given (it must be ours),
 * else our single address inside migration_network, else the address that
 * faces the source: the management network, the legacy fallback. That the
 * addresses are unicast IPs is checked once, where they arrive (agent/rpc);
 * what they mean for this host is checked here, for PrepareIncoming and for
 * CheckIncoming alike.
 */
import { invalidArgument } from '../../../shared/errors.js';
import { familyOf } from '../../../shared/net.js';
import { onlyAddressIn } from '../migration-network.js';
import type { HostNetwork } from '../ports.js';
import type { NetworkRole } from '../types.js';

export async function chooseListenAddress(
  network: HostNetwork,
  args: { sourceMigrationAddress: string; dstqemu: string; migrationNetwork: string },
): Promise<{ address: string; network: NetworkRole }> {
  // Configured ones, not only those of NICs that are up: a migration NIC that is down is refused
  // for being down (migration-link.ts), not taken for a wrong address.
  const local = await network.configuredAddresses();
  if (args.dstqemu) {
    // CheckIncoming may not know the source's address yet ('' then): only a known one is compared.
    const sourceFamily = args.sourceMigrationAddress ? familyOf(args.sourceMigrationAddress) : familyOf(args.dstqemu);
    if (familyOf(args.dstqemu) !== sourceFamily) {
      throw invalidArgument(
        'dstqemu',
        `${args.dstqemu} is ${familyOf(args.dstqemu)} but the source's migration address ${args.sourceMigrationAddress} is ${sourceFamily}: use addresses of one family`,
      );
    }
    if (!local.some((a) => a.address === args.dstqemu)) {
      throw invalidArgument(
        'dstqemu',
        `${args.dstqemu} is not an address of the destination host (it has ${local.map((a) => a.address).join(', ') || 'none'})`,
      );
    }
    return { address: args.dstqemu, network: 'migration' };
  }
  if (args.migrationNetwork) {
    return { address: onlyAddressIn(local, args.migrationNetwork, 'the destination').address, network: 'migration' };
  }
  const route = await network.routeTo(args.sourceMigrationAddress);
  return { address: route.source, network: 'management' };
}
