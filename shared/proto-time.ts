/**
 * Milliseconds to and from google.protobuf.Timestamp and Duration, the one
 * place that knows their seconds-and-nanos shape. Both messages share it, so
 * one pair of functions serves both.
 */
import type { Duration } from './generated/google/protobuf/Duration.js';
import type { Timestamp } from './generated/google/protobuf/Timestamp.js';

/** Epoch milliseconds, or a length in milliseconds, as seconds and nanos. */
export function protoTimeFromMs(ms: number): Timestamp & Duration {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** A received Timestamp or Duration in milliseconds; 0 when it is unset. */
export function msFromProtoTime(t: { seconds: number | string; nanos: number } | null | undefined): number {
  return t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : 0;
}
