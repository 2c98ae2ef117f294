/**
 * Every value ferryctl sends, parsed and range-checked against what the
 * contract (proto/ferry/v1) allows while commander reads the command line.
 * A bad value stops ferryctl with exit status 2 before it connects: commander
 * names the flag ("option '--bandwidth <MIBPS>' argument 'fast' is invalid.")
 * and the parser says what is allowed. Nothing is rounded, wrapped or
 * defaulted: "1.7" is not 1, "lz4" is not the host's default.
 */
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { DEFAULT_AGENT_PORT } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import { optionalCidr, optionalUnicast, requireAbsolutePath, requireHostPort } from '../../shared/validation.js';

export const UINT32_MAX = 2 ** 32 - 1;
export const INT32_MAX = 2 ** 31 - 1;
const UINT64_MAX = 2n ** 64n - 1n;

export type Parser<T> = (value: string) => T;

function refuse(allowed: string): never {
  throw new InvalidArgumentError(`Allowed: ${allowed}.`);
}

const DIGITS = /^\d+$/;

/** A whole number in [min, max]; `meaning` follows the range, e.g. "MiB/s; 0 = unlimited". */
export function wholeNumber(min: number, max: number, meaning: string): Parser<number> {
  const allowed = `a whole number from ${min} to ${max} (${meaning})`;
  return (value) => {
    if (!DIGITS.test(value)) refuse(allowed);
    const n = Number(value);
    if (n < min || n > max) refuse(allowed);
    return n;
  };
}

/** A uint64 as a decimal string (proto-loader takes 64-bit integers as strings without loss). */
export function uint64(meaning: string): Parser<string> {
  const allowed = `a whole number from 0 to ${UINT64_MAX} (${meaning})`;
  return (value) => {
    if (!DIGITS.test(value) || BigInt(value) > UINT64_MAX) refuse(allowed);
    return BigInt(value).toString();
  };
}

// --- Durations -------------------------------------------------------------------

const NANOS_PER: Readonly<Record<string, bigint>> = { ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };
const DURATION_PART = /(\d+)(?:\.(\d+))?(ms|s|m|h)/y;

export interface DurationRange {
  /** Bounds in the unit below. */
  min: number;
  max: number;
  /** What the contract counts in: whole milliseconds or whole seconds. */
  unit: 'ms' | 's';
  /** What zero means, when zero is allowed (min 0). */
  zero?: string;
}

function shown(count: number, unit: 'ms' | 's'): string {
  if (unit === 'ms' && count >= 1000 && count % 1000 === 0) return shown(count / 1000, 's');
  if (unit === 's' && count >= 3600 && count % 3600 === 0) return `${count / 3600}h`;
  return `${count}${unit}`;
}

/** The exact length of "1m30s", "1.5s", "300ms" in nanoseconds; undefined when it is not one. */
function nanosOf(text: string): bigint | undefined {
  let total = 0n;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < text.length) {
    const start = DURATION_PART.lastIndex;
    const part = DURATION_PART.exec(text);
    if (!part || part.index !== start) return undefined;
    const [, whole = '0', fraction = '', unit = 's'] = part;
    const per = NANOS_PER[unit] ?? 0n;
    const scale = 10n ** BigInt(fraction.length);
    const fractional = BigInt(fraction || '0') * per;
    if (fractional % scale !== 0n) return undefined; // finer than a nanosecond
    total += BigInt(whole) * per + fractional / scale;
  }
  return text.length > 0 ? total : undefined;
}

/**
 * A duration with its unit ("500ms", "2s", "1m30s"; "0" alone where zero is
 * allowed), a whole number of the contract's unit within the range. Returns
 * milliseconds.
 */
export function duration(range: DurationRange): Parser<number> {
  const granularity = range.unit === 'ms' ? 'milliseconds' : 'seconds';
  const span =
    range.min === 0
      ? `0 (${range.zero ?? 'none'}) or a duration up to ${shown(range.max, range.unit)}`
      : `a duration from ${shown(range.min, range.unit)} to ${shown(range.max, range.unit)}`;
  const allowed = `${span} in whole ${granularity}, with its unit (e.g. ${range.unit === 'ms' ? '300ms, 1.5s' : '90s, 2m, 1h'})`;
  const per = NANOS_PER[range.unit] ?? 1n;
  return (value) => {
    const nanos = value === '0' && range.min === 0 ? 0n : nanosOf(value);
    if (nanos === undefined || nanos % per !== 0n) refuse(allowed);
    const count = Number(nanos / per);
    if (count < range.min || count > range.max) refuse(allowed);
    return range.unit === 'ms' ? count : count * 1000;
  };
}

// --- Enums -----------------------------------------------------------------------

export interface EnumParser<T extends string> {
  /** The names a user types: the enum's value names without prefix, lower case. */
  choices: string[];
  parse: Parser<T>;
}

/**
 * An enum of the contract by name, from its generated object (e.g.
 * Compression, prefix "COMPRESSION_"): "zstd", "ZSTD" or "COMPRESSION_ZSTD".
 * The UNSPECIFIED value is not a choice: leaving the flag out is.
 */
export function enumValue<E extends Record<string, string>>(values: E, prefix: string): EnumParser<E[keyof E]> {
  const names = Object.keys(values).filter((name) => name !== `${prefix}UNSPECIFIED`);
  const choices = names.map((name) => name.slice(prefix.length).toLowerCase().replaceAll('_', '-'));
  const allowed = choices.join(', ');
  return {
    choices,
    parse: (value) => {
      const upper = value.toUpperCase().replaceAll('-', '_');
      const name = upper.startsWith(prefix) ? upper : `${prefix}${upper}`;
      if (!names.includes(name)) refuse(allowed);
      return values[name] as E[keyof E];
    },
  };
}

/** One of a fixed list of words (a string field whose values the contract lists, e.g. the presets). */
export function oneOf<const T extends string>(choices: readonly T[]): EnumParser<T> {
  return {
    choices: [...choices],
    parse: (value) => {
      if (!(choices as readonly string[]).includes(value)) refuse(choices.join(', '));
      return value as T;
    },
  };
}

/** A repeatable enum flag that also takes a comma-separated list: --phase failed --phase cancelled, or --phase failed,cancelled. */
export function enumList<T extends string>(item: EnumParser<T>): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => [...(previous ?? []), ...value.split(',').map((v) => item.parse(v.trim()))];
}

// --- Names, addresses, paths -------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function uuid(value: string): string {
  if (!isUuid(value)) refuse('a UUID (8-4-4-4-12 hexadecimal digits, e.g. 6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50)');
  return value.toLowerCase();
}

/** A VM by UUID, or by libvirt's name (resolved through the agent's VM list). */
export type VmRef = { uuid: string } | { name: string };

const VM_ALLOWED = "a VM's UUID or its libvirt name (not empty, no '/' or control characters)";

export function vmRef(value: string): VmRef {
  if (isUuid(value)) return { uuid: value.toLowerCase() };
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (value === '' || value.length > 1024 || /[/\u0000-\u001f\u007f]/.test(value)) refuse(VM_ALLOWED);
  return { name: value };
}

/**
 * What status, watch, cancel and the job changes act on: a job id, a VM
 * (its current or latest job), or a UUID that may be either (tried as a job
 * first). "job:ID" and "vm:VM" say which.
 */
export type JobTarget = { jobId: string } | { vm: VmRef } | { jobOrVm: string };

export function jobTarget(value: string): JobTarget {
  if (value.startsWith('job:')) return { jobId: uuid(value.slice(4)) };
  if (value.startsWith('vm:')) return { vm: vmRef(value.slice(3)) };
  if (isUuid(value)) return { jobOrVm: value.toLowerCase() };
  try {
    return { vm: vmRef(value) };
  } catch {
    refuse(`a job id (a UUID), or a VM's UUID or name; job:ID or vm:VM to say which`);
  }
}

/** A check of shared/validation.ts (which throws a FerryError "field: problem") as a parser. */
function checked<T>(check: (field: string, value: string) => T): Parser<T> {
  return (value) => {
    try {
      return check('value', value);
    } catch (err) {
      if (isFerryError(err)) throw new InvalidArgumentError(`${err.message.replace(/^value: /, '')}.`);
      throw err;
    }
  };
}

/** An agent, "host[:port]" (port 54321 by default; IPv6 in brackets with a port). */
export const agentAddress: Parser<string> = checked((field, value) => {
  requireHostPort(field, value, DEFAULT_AGENT_PORT);
  return value;
});

/** A unicast IP address (dstqemu). */
export const unicastAddress: Parser<string> = checked((field, value) => {
  if (value === '') throw new InvalidArgumentError('Allowed: an IP address.');
  return optionalUnicast(field, value);
});

/** A CIDR such as 198.19.0.0/24. */
export const cidr: Parser<string> = checked((field, value) => {
  if (value === '') throw new InvalidArgumentError('Allowed: a CIDR such as 198.19.0.0/24.');
  return optionalCidr(field, value);
});

/** A destination of a maintenance's drain: its agent, and optionally its dstqemu. */
export interface DrainDestination {
  host: string;
  dstqemu: string;
}

/**
 * `maintenance enter --to`: HOST[:PORT][=DSTQEMU], repeatable and
 * comma-separated (--to lab2,lab3 --to lab4=198.19.0.4); a destination
 * given twice is refused here, before the agent would.
 */
export function destinationList(value: string, previous: DrainDestination[] | undefined): DrainDestination[] {
  const list = [...(previous ?? [])];
  for (const item of value.split(',')) {
    const at = item.indexOf('=');
    const host = agentAddress((at < 0 ? item : item.slice(0, at)).trim());
    const dstqemu = at < 0 ? '' : unicastAddress(item.slice(at + 1).trim());
    const key = (h: string) => {
      const { host: name, port } = requireHostPort('value', h, DEFAULT_AGENT_PORT);
      return `${name.toLowerCase()}:${port}`;
    };
    if (list.some((d) => key(d.host) === key(host))) throw new InvalidArgumentError(`${host} is given twice; each destination once.`);
    list.push({ host, dstqemu });
  }
  return list;
}

/** An absolute path on the agent's host (not this one: ferryctl never reads it). */
export const hostPath: Parser<string> = checked(requireAbsolutePath);

/** WatchHost's resume point: "REV" or "INCARNATION/REV", as `ferryctl events` prints it. */
export interface Since {
  incarnation: string;
  revision: string;
}

const revision = uint64('a revision');

export function since(value: string): Since {
  const slash = value.lastIndexOf('/');
  const incarnation = slash < 0 ? '' : value.slice(0, slash);
  if (slash === 0) refuse('REV or INCARNATION/REV, as ferryctl events prints them');
  return { incarnation, revision: revision(value.slice(slash + 1)) };
}
