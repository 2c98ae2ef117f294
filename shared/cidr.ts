/**
 * CIDR blocks ("198.19.0.0/24", "fd00:19::/64") as the configuration, the
 * requests and the host facts use them: parse with a message that says what
 * is wrong, and test whether an address lies inside. Addresses become bigints so that IPv4 and
 * IPv6 share one prefix comparison.
 */
import net from 'node:net';
import { must } from './must.js';

export interface Cidr {
  family: 4 | 6;
  /** The network address as written (host bits are zero, checked at parse). */
  address: string;
  prefix: number;
  /** Canonical "address/prefix". */
  text: string;
}

/** The address without its IPv6 zone: "fe80::1%eth0" → "fe80::1". */
export function withoutZone(address: string): string {
  const percent = address.indexOf('%');
  return percent < 0 ? address : address.slice(0, percent);
}

function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(address: string): bigint {
  let text = withoutZone(address);
  // A trailing dotted quad ("::ffff:1.2.3.4") stands for the last two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (quad !== undefined) {
    const v4 = ipv4ToBigInt(quad);
    text = `${text.slice(0, -quad.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

/** The address as a number, or undefined when it is not an IP literal. */
export function addressToBigInt(address: string): { family: 4 | 6; value: bigint } | undefined {
  const family = net.isIP(withoutZone(address));
  if (family === 4) return { family, value: ipv4ToBigInt(address) };
  if (family === 6) return { family, value: ipv6ToBigInt(address) };
  return undefined;
}

function bigIntToAddress(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // Let the URL parser compress the longest run of zero groups.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** A Cidr, or a sentence saying why the text is not one. */
export function parseCidr(text: string): Cidr | string {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!match) return `"${text}" is not a CIDR block such as 198.19.0.0/24`;
  const addressText = must(match[1], 'address of a matched CIDR');
  const parsed = addressToBigInt(addressText);
  if (!parsed) return `"${addressText}" is not an IPv4 or IPv6 address`;
  const bits = parsed.family === 4 ? 32 : 128;
  const prefix = Number(match[2]);
  if (prefix > bits) return `prefix length /${prefix} is longer than ${bits} bits`;
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((parsed.value & hostMask) !== 0n) {
    const network = bigIntToAddress(parsed.family, parsed.value & ~hostMask);
    return `"${text}" has host bits set; did you mean ${network}/${prefix}?`;
  }
  const address = bigIntToAddress(parsed.family, parsed.value);
  return { family: parsed.family, address, prefix, text: `${address}/${prefix}` };
}

/** Whether `address` (an IP literal) lies inside the block. */
export function cidrContains(cidr: Cidr, address: string): boolean {
  const parsed = addressToBigInt(address);
  if (!parsed || parsed.family !== cidr.family) return false;
  const network = addressToBigInt(cidr.address);
  if (!network) throw new Error(`CIDR block ${cidr.text}: its network address ${cidr.address} is not an IP literal`);
  const shift = BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix);
  return parsed.value >> shift === network.value >> shift;
}

/** The block an interface address belongs to: "198.19.0.2/24" → 198.19.0.0/24. */
export function networkOf(addressWithPrefix: string): Cidr | undefined {
  const [address, prefixText] = addressWithPrefix.split('/');
  const parsed = addressToBigInt(address ?? '');
  const prefix = Number(prefixText);
  if (!parsed || !Number.isInteger(prefix)) return undefined;
  const bits = parsed.family === 4 ? 32 : 128;
  if (prefix < 0 || prefix > bits) return undefined;
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  const network = bigIntToAddress(parsed.family, parsed.value & ~hostMask);
  return { family: parsed.family, address: network, prefix, text: `${network}/${prefix}` };
}
