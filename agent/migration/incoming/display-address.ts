/**
 * This host's display address: where the VNC and SPICE consoles of guests
 * that arrive here listen when their definition named an address of their
 * source (display.network, a CIDR or a NIC, read at each migration so that a
 * reload applies to the next one). As with the migration network, one
 * address, or the operator fixes the configuration: a host that cannot say
 * which has none, and says why.
 */
import { addressesInCidr, familyOf, isLinkLocal } from '../../../shared/net.js';
import type { HostNetwork, LocalAddress } from '../ports.js';

/** display.network as the core sees it: a CIDR block, or an interface name. */
export type DisplayNetwork = { cidr: string } | { interface: string };

/** The address; '' with the reason when there is none ('' and no reason: no display network). */
export interface DisplayAddress {
  address: string;
  problem: string;
}

export async function displayAddressOf(network: HostNetwork, spec: DisplayNetwork | null): Promise<DisplayAddress> {
  if (spec === null) return { address: '', problem: '' };
  const local = await network.configuredAddresses();
  if ('cidr' in spec) return only(addressesInCidr(local, spec.cidr), `in display.network ${spec.cidr}`, 'give a narrower CIDR');
  const onNic = local.filter((a) => a.interface === spec.interface && !isLinkLocal(a.address));
  const v4 = onNic.filter((a) => familyOf(a.address) === 'ipv4');
  // A NIC with IPv4 and IPv6 names its IPv4 address: consoles' clients reach both alike.
  return only(v4.length > 0 ? v4 : onNic, `on ${spec.interface} (display.network)`, 'give a CIDR instead');
}

function only(candidates: readonly LocalAddress[], where: string, whenSeveral: string): DisplayAddress {
  const [first] = candidates;
  if (first !== undefined && candidates.length === 1) return { address: first.address, problem: '' };
  return {
    address: '',
    problem:
      candidates.length === 0
        ? `this host has no address ${where}`
        : `this host has ${candidates.length} addresses ${where} (${candidates.map((a) => a.address).join(', ')}): ${whenSeveral}`,
  };
}
