/**
 * Rules for the string keys whose shape matters (listen address, URI
 * template, migration and display networks). Each returns what is wrong and what is
 * allowed, or undefined when the value is fine.
 */
import net from 'node:net';
import { parseCidr } from '../../shared/cidr.js';

export function checkListenAddress(value: string): string | undefined {
  if (net.isIP(value)) return undefined;
  return `"${value}" is not an IP address; use one of this host's addresses, 0.0.0.0 (every IPv4 address) or :: (every address)`;
}

/** The only placeholder the destination URI template knows. */
export const URI_HOST_PLACEHOLDER = '{host}';

export function checkUriTemplate(value: string): string | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    return `"${value}" is not a libvirt URI template such as qemu+tls://{host}/system`;
  }
  const unknown = [...value.matchAll(/\{([^}]*)\}/g)].map((m) => m[0]).filter((p) => p !== URI_HOST_PLACEHOLDER);
  if (unknown.length > 0) return `unknown placeholder ${unknown.join(', ')}; the only one is {host}`;
  if (!value.includes(URI_HOST_PLACEHOLDER)) return `"${value}" must contain {host} (the destination's address)`;
  return undefined;
}

/** Linux interface names: at most 15 bytes, no slash or white space. */
const INTERFACE_NAME = /^[A-Za-z0-9_.:@-]{1,15}$/;

/** "" (none), a CIDR block, or an interface name. */
export function checkMigrationNetwork(value: string): string | undefined {
  return checkNetworkSpec(value, { cidr: '198.19.0.0/24', nic: 'eth1' });
}

/** As migration.network: where VNC and SPICE consoles listen on this host. */
export function checkDisplayNetwork(value: string): string | undefined {
  return checkNetworkSpec(value, { cidr: '198.18.0.0/24', nic: 'eth0' });
}

function checkNetworkSpec(value: string, example: { cidr: string; nic: string }): string | undefined {
  if (value === '') return undefined;
  if (value.includes('/')) {
    const cidr = parseCidr(value);
    return typeof cidr === 'string' ? cidr : undefined;
  }
  if (INTERFACE_NAME.test(value) && value !== '.' && value !== '..') return undefined;
  return `"${value}" is neither a CIDR block (e.g. ${example.cidr}) nor an interface name (e.g. ${example.nic})`;
}

/** A colon-separated list of absolute directories (like PATH); "" = none. */
export function checkDirectoryList(value: string): string | undefined {
  if (value === '') return undefined;
  const bad = value.split(':').filter((d) => !d.startsWith('/') || d.includes('\0') || d.split('/').includes('..'));
  if (bad.length === 0) return undefined;
  return `${bad.map((d) => JSON.stringify(d)).join(', ')} ${bad.length === 1 ? 'is not an absolute directory' : 'are not absolute directories'}; give absolute paths separated by ":", e.g. /var/lib/libvirt/images`;
}
