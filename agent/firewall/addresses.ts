/**
 * Address validation for pinholes. Everything here is pure except
 * defaultLocalAddresses(), and runs before any port is reserved or any rule is
 * written: a request that fails here leaves the firewall untouched.
 *
 * Addresses are kept in one canonical text form (IPv4 dotted quad; IPv6 per
 * RFC 5952, which is also what iptables-save prints), so that a rule read back
 * from iptables-save compares equal to the pinhole that wrote it.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { withoutZone } from '../../shared/cidr.js';
import { fieldRequired, invalidArgument } from '../../shared/errors.js';
import { must } from '../../shared/must.js';
import type { AddressFamily } from './firewall.js';

export interface ParsedAddress {
  family: AddressFamily;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
  /** Canonical text form. */
  text: string;
}

/** Parse an IPv4 or IPv6 literal (no prefix, no zone). undefined if it is neither. */
export function parseAddress(text: string): ParsedAddress | undefined {
  if (isIPv4(text)) {
    const bytes = Uint8Array.from(text.split('.').map(Number));
    return { family: 'ipv4', bytes, text: bytes.join('.') };
  }
  // A zone ("fe80::1%eth1") cannot be written into an iptables rule.
  if (isIPv6(text) && !text.includes('%')) {
    const bytes = parseIPv6(text);
    return { family: 'ipv6', bytes, text: formatIPv6(bytes) };
  }
  return undefined;
}

/** Canonical form of an address literal, or the input unchanged if it is not one. */
export function canonicalAddress(text: string): string {
  return parseAddress(text)?.text ?? text;
}

function parseIPv6(text: string): Uint8Array {
  // node:net has already checked the syntax; only the layout is left to decode.
  let s = text;
  const v4Groups: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    // An embedded IPv4 tail ("::ffff:192.0.2.1") fills the last two groups.
    const [a, b, c, d] = s
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    if (a === undefined || b === undefined || c === undefined || d === undefined) {
      throw new Error(`IPv6 address ${text}: its IPv4 tail is not a dotted quad`);
    }
    v4Groups.push((a << 8) | b, (c << 8) | d);
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const hex = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  let groups: number[];
  const gap = s.indexOf('::');
  if (gap >= 0) {
    const head = hex(s.slice(0, gap));
    const rest = hex(s.slice(gap + 2));
    const zeros = 8 - v4Groups.length - head.length - rest.length;
    groups = [...head, ...new Array<number>(zeros).fill(0), ...rest];
  } else {
    groups = hex(s);
  }
  groups.push(...v4Groups);
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** RFC 5952: lower-case hex, no leading zeros, the longest run (>= 2) of zero groups as "::". */
export function formatIPv6(bytes: Uint8Array): string {
  // Eight big-endian 16-bit groups; a shorter array is a RangeError, not zeros.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const groups = Array.from({ length: 8 }, (_, i) => view.getUint16(2 * i));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/**
 * Why an address cannot be a pinhole endpoint, or undefined if it can: it must be
 * a unicast address another host could use (so no loopback either, since the
 * peer of a migration is always another host).
 */
export function unicastProblem(a: ParsedAddress): string | undefined {
  const b = a.bytes;
  if (a.family === 'ipv4') {
    const first = must(b[0], `first byte of ${a.text}`);
    if (first === 0) return 'is an unspecified ("this network") address';
    if (first === 127) return 'is a loopback address';
    if (first >= 224 && first <= 239) return 'is a multicast address';
    if (b.every((x) => x === 255)) return 'is the broadcast address';
    if (first >= 240) return 'is in the reserved range 240.0.0.0/4';
    return undefined;
  }
  if (b.every((x) => x === 0)) return 'is the unspecified address';
  if (b.slice(0, 15).every((x) => x === 0) && b[15] === 1) return 'is the loopback address';
  if (b[0] === 0xff) return 'is a multicast address';
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return 'is an IPv4-mapped IPv6 address (write it in its IPv4 form)';
  }
  return undefined;
}

export interface ValidEndpoints {
  family: AddressFamily;
  source: string;
  destination: string;
}

/**
 * Check a pinhole's two endpoints: literals, unicast, same family, destination
 * owned by this host. Throws INVALID_ARGUMENT naming the field and what to fix.
 */
export function validateEndpoints(source: string, destination: string, localAddresses: readonly string[]): ValidEndpoints {
  const src = parseEndpoint('source', source, "the source host's migration-network address");
  const dst = parseEndpoint('destination', destination, "this host's migration-network address");
  if (src.family !== dst.family) {
    throw invalidArgument(
      'destination',
      `${dst.text} is ${label(dst.family)} but source ${src.text} is ${label(src.family)}; give both addresses in the same family`,
    );
  }
  const local = new Set(localAddresses.map(canonicalAddress));
  if (!local.has(dst.text)) {
    throw invalidArgument(
      'destination',
      `${dst.text} is not an address of this host; give one of its migration-network addresses (this host has ${[...local].join(', ') || 'none'})`,
    );
  }
  if (src.text === dst.text) {
    throw invalidArgument('source', `${src.text} is this host's own address; give the source host's migration-network address`);
  }
  return { family: src.family, source: src.text, destination: dst.text };
}

function parseEndpoint(field: string, value: unknown, what: string): ParsedAddress {
  if (typeof value !== 'string' || value === '') throw fieldRequired(field, `missing; give ${what}`);
  if (value.includes('/')) {
    throw invalidArgument(field, `${JSON.stringify(value)} is a network, not an address; give ${what} without a prefix length`);
  }
  const parsed = parseAddress(value);
  if (!parsed) {
    const zone = value.includes('%') ? ' (IPv6 zone ids are not supported)' : '';
    throw invalidArgument(field, `${JSON.stringify(value)} is not an IPv4 or IPv6 address${zone}; give ${what}`);
  }
  const problem = unicastProblem(parsed);
  if (problem) throw invalidArgument(field, `${parsed.text} ${problem}; give ${what} (a unicast address)`);
  return parsed;
}

function label(family: AddressFamily): string {
  return family === 'ipv4' ? 'IPv4' : 'IPv6';
}

/** This host's addresses from os.networkInterfaces(), without IPv6 zone suffixes. */
export function defaultLocalAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) out.push(canonicalAddress(withoutZone(info.address)));
  }
  return out;
}
