/**
 * IP address and CIDR helpers shared by the agent (validation, choosing the
 * migration address) and ferryctl (checking flags before calling).
 */
import { BlockList, isIP } from 'node:net';
import { cidrContains, parseCidr } from './cidr.js';
import { must } from './must.js';

export type Family = 'ipv4' | 'ipv6';

export function familyOf(address: string): Family | undefined {
  const version = isIP(address);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : undefined;
}

/** The entries whose address lies inside the CIDR (text form); none when it is not a CIDR. */
export function addressesInCidr<T extends { address: string }>(addresses: readonly T[], cidrText: string): T[] {
  const cidr = parseCidr(cidrText);
  return typeof cidr === 'string' ? [] : addresses.filter((a) => cidrContains(cidr, a.address));
}

const NOT_UNICAST: ReadonlyArray<[string, number, Family]> = [
  ['0.0.0.0', 8, 'ipv4'], // "this network"
  ['127.0.0.0', 8, 'ipv4'], // loopback
  ['224.0.0.0', 4, 'ipv4'], // multicast
  ['240.0.0.0', 4, 'ipv4'], // reserved and broadcast
  ['::', 128, 'ipv6'], // unspecified
  ['::1', 128, 'ipv6'], // loopback
  ['ff00::', 8, 'ipv6'], // multicast
];

/**
 * A unicast address another host can reach: not unspecified, loopback,
 * multicast or broadcast. (Loopback is refused because a migration address
 * names a host on a network, and 127.0.0.1 names every host at once.)
 */
export function isUnicastAddress(address: string): boolean {
  const family = familyOf(address);
  if (!family) return false;
  const list = new BlockList();
  for (const [net, prefix, fam] of NOT_UNICAST) list.addSubnet(net, prefix, fam);
  return !list.check(address, family);
}

/** Formats host and port for a URI (IPv6 literals in brackets). */
export function hostPort(address: string, port: number): string {
  return familyOf(address) === 'ipv6' ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Splits "host", "host:port", "[v6]:port" or a bare IPv6 literal. A bare IPv6
 * address keeps all its colons: "2001:db8::2" has no port.
 */
export function splitHostPort(value: string, defaultPort: number): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  if (bracketed)
    return { host: must(bracketed[1], 'host of a matched [host]:port'), port: bracketed[2] ? Number(bracketed[2]) : defaultPort };
  const withPort = /^([^:]+):(\d+)$/.exec(value);
  if (withPort) return { host: must(withPort[1], 'host of a matched host:port'), port: Number(withPort[2]) };
  return { host: value, port: defaultPort };
}

/** Link-local addresses (169.254/16, fe80::/10) name a link, not a host: no use for migration. */
export function isLinkLocal(address: string): boolean {
  const family = familyOf(address);
  if (!family) return false;
  const list = new BlockList();
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addSubnet('fe80::', 10, 'ipv6');
  return list.check(address, family);
}
