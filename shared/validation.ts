/**
 * Checks of request fields that need nothing but the request: used by the
 * agent before it acts, and by ferryctl before it calls. Each check throws an
 * INVALID_ARGUMENT FerryError naming the field and saying what is allowed.
 */
import path from 'node:path';
import { fieldRequired, invalidArgument } from './errors.js';
import { parseCidr } from './cidr.js';
import { familyOf, isUnicastAddress, splitHostPort } from './net.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const MAX_TEXT = 4096;

export function requireUuid(field: string, value: string): string {
  if (!value) throw fieldRequired(field, 'is required: a UUID (8-4-4-4-12 hexadecimal digits)');
  if (!UUID.test(value)) {
    throw invalidArgument(
      field,
      `${quote(value)} is not a UUID (expected 8-4-4-4-12 hexadecimal digits, e.g. 6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50)`,
    );
  }
  return value.toLowerCase();
}

/** "host", "host:port", "[v6]:port" or a bare IPv6 address; returns host and port. */
export function requireHostPort(field: string, value: string, defaultPort: number): { host: string; port: number } {
  if (!value) throw fieldRequired(field, 'is required: the destination agent as host[:port]');
  const { host, port } = splitHostPort(value, defaultPort);
  if (!(port >= 1 && port <= 65535)) throw invalidArgument(field, `port ${port} is out of range 1-65535`);
  if (!familyOf(host) && !HOSTNAME.test(host)) {
    throw invalidArgument(field, `${quote(value)} is not a host name or IP address (expected host[:port])`);
  }
  return { host, port };
}

/** '' is allowed (not given); anything else must be a unicast IP address. */
export function optionalUnicast(field: string, value: string): string {
  if (value === '') return '';
  if (!familyOf(value)) throw invalidArgument(field, `${quote(value)} is not an IP address`);
  if (!isUnicastAddress(value))
    throw invalidArgument(field, `${value} is not a unicast address (loopback, multicast, broadcast and unspecified are refused)`);
  return value;
}

export function optionalCidr(field: string, value: string): string {
  if (value === '') return '';
  const cidr = parseCidr(value);
  if (typeof cidr === 'string') throw invalidArgument(field, cidr);
  return value;
}

export function requireAbsolutePath(field: string, value: string): string {
  if (!value) throw fieldRequired(field, 'is required: an absolute path on the host');
  if (value.length > MAX_TEXT || value.includes('\0')) throw invalidArgument(field, 'is not a usable path');
  if (!path.isAbsolute(value)) throw invalidArgument(field, `${quote(value)} must be an absolute path`);
  return path.normalize(value);
}

export function requireText(field: string, value: string, what: string): string {
  if (!value) throw fieldRequired(field, `is required: ${what}`);
  if (value.length > 256) throw invalidArgument(field, `is ${value.length} characters long; at most 256 are allowed`);
  return value;
}

/** An optional whole number within [min, max]; undefined stays undefined. */
export function optionalInRange(field: string, value: number | undefined, min: number, max: number, unit: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(field, `${value} is out of range: allowed ${min}-${max} ${unit}`);
  }
  return value;
}

/** Checks a string enum value as proto-loader delivers it (unknown numbers arrive as numbers). */
export function requireEnum<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw invalidArgument(field, `${String(value)} is not one of ${allowed.join(', ')}`);
}

function quote(value: string): string {
  const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
  return JSON.stringify(shown);
}
