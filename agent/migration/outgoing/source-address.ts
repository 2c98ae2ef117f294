/**
 * Which local address the source migrates from, and what to warn about the
 * route. The pinhole on the destination admits exactly this address, so it
 * must be the one the kernel will really use (oVirt's known limitation: both
 * hosts must share the migration subnet, or traffic leaves another way).
 */
import { invalidArgument } from '../../../shared/errors.js';
import { familyOf, isLinkLocal, splitHostPort } from '../../../shared/net.js';
import { onlyAddressIn } from '../migration-network.js';
import type { HostNetwork, IncomingOffer, Route } from '../ports.js';
import type { MigrateCommand } from '../types.js';

export interface SourceAddress {
  address: string;
  interface: string;
  /** The route looked up to choose it, and to which address (reused when the destination listens there). */
  route?: { to: string; route: Route };
}

export async function chooseSourceAddress(command: MigrateCommand, network: HostNetwork): Promise<SourceAddress> {
  if (command.dstqemu) {
    const family = familyOf(command.dstqemu);
    const usable = network.localAddresses().filter((a) => !isLinkLocal(a.address));
    if (!usable.some((a) => a.family === family)) {
      const own = [...new Set(usable.map((a) => a.family))].join(' and ') || 'no';
      throw invalidArgument(
        'dstqemu',
        `${command.dstqemu} is ${family} but this host has only ${own} addresses: give a dstqemu of the source's family`,
      );
    }
    const route = await network.routeTo(command.dstqemu);
    return { address: route.source, interface: route.interface, route: { to: command.dstqemu, route } };
  }
  if (command.migrationNetwork) {
    const only = onlyAddressIn(network.localAddresses(), command.migrationNetwork, 'this host', 'configure one or give dstqemu');
    return { address: only.address, interface: only.interface };
  }
  // Legacy behaviour (no migration network): the route to the destination agent.
  const host = splitHostPort(command.dst, 0).host;
  const to = await network.resolve(host);
  const route = await network.routeTo(to);
  return { address: route.source, interface: route.interface, route: { to, route } };
}

export function routeWarnings(offer: IncomingOffer, route: Route, managementInterface: string | undefined): string[] {
  const warnings: string[] = [];
  if (offer.network === 'management') {
    warnings.push('no migration network was given (dstqemu or migration_network): the migration uses the management network');
  }
  if (route.gateway) {
    warnings.push(
      `the route to ${offer.listenAddress} goes through gateway ${route.gateway} on ${route.interface}: source and destination should share the migration subnet`,
    );
  }
  if (offer.network === 'migration' && managementInterface && route.interface === managementInterface) {
    warnings.push(`the route to ${offer.listenAddress} leaves through the management NIC ${route.interface}`);
  }
  return warnings;
}
