/**
 * Milliseconds to and from google.protobuf.Timestamp and Duration, the one
 * place that knows their seconds-and-nanos shape. Both messages share it, so
 * one pair of functions serves both. The contract carries every time as one
 * of the two (AIP-142); the core keeps plain numbers, converted here at the edge.
 */
import { invalidArgument } from './errors.js';
import type { Duration } from './generated/google/protobuf/Duration.js';
import type { Timestamp } from './generated/google/protobuf/Timestamp.js';

const NANOS_PER_MS = 1_000_000;
const NANOS_PER_S = 1_000_000_000;

/** Epoch milliseconds, or a length in milliseconds (fractions kept to the nanosecond), as seconds and nanos. */
export function protoTimeFromMs(ms: number): Timestamp & Duration {
  // Seconds first: an epoch time in nanoseconds (~1.8e18) is past what a double holds exactly.
  let seconds = Math.floor(ms / 1000);
  let nanos = Math.round((ms - seconds * 1000) * NANOS_PER_MS);
  if (nanos === NANOS_PER_S) {
    seconds += 1;
    nanos = 0;
  }
  return { seconds, nanos };
}

/** A received Timestamp or Duration in milliseconds; 0 when it is unset. */
export function msFromProtoTime(t: { seconds: number | string; nanos: number } | null | undefined): number {
  return t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : 0;
}

/** The unit the core counts a duration in, and how a message names it. */
export type DurationUnit = 'ms' | 's';
const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1000 };
const UNIT_NAME: Record<DurationUnit, string> = { ms: 'milliseconds', s: 'seconds' };

/**
 * A request's Duration as a whole number of `unit`, checked: a well-formed
 * Duration (nanos within ±999,999,999 and of the seconds' sign), not negative,
 * a whole number of the unit the core counts in, within [min, max] of that
 * unit. Unset stays undefined. Every refusal is INVALID_ARGUMENT naming the field.
 */
export function optionalDuration(
  field: string,
  value: { seconds: number | string; nanos: number } | null | undefined,
  unit: DurationUnit,
  min: number,
  max: number,
  meaning = '',
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const seconds = Number(value.seconds);
  const nanos = value.nanos;
  if (!Number.isSafeInteger(seconds) || !Number.isInteger(nanos) || Math.abs(nanos) >= NANOS_PER_S) {
    throw invalidArgument(field, `is not a valid Duration (seconds ${value.seconds}, nanos ${nanos}; nanos must lie within ±999999999)`);
  }
  if ((seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) {
    throw invalidArgument(field, `is not a valid Duration: seconds ${seconds} and nanos ${nanos} have different signs`);
  }
  const shown = `${seconds + nanos / NANOS_PER_S}s`;
  if (seconds < 0 || nanos < 0) throw invalidArgument(field, `${shown} is negative; a duration here is zero or more`);
  const unitNanos = UNIT_MS[unit] * NANOS_PER_MS;
  const secondsPerUnit = UNIT_MS[unit] / 1000;
  if (nanos % unitNanos !== 0) throw invalidArgument(field, `${shown} is not a whole number of ${UNIT_NAME[unit]}`);
  const count = seconds / secondsPerUnit + nanos / unitNanos;
  if (count < min || count > max) {
    throw invalidArgument(field, `${shown} is out of range: allowed ${min}-${max} ${unit}${meaning ? ` (${meaning})` : ''}`);
  }
  return count;
}
