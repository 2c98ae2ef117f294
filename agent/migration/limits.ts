/**
 * The host's concurrency limits in force: set from the configuration at
 * start, changed at run time by SetMigrationLimits or a configuration reload
 * (SIGHUP). Readers (the outgoing slot queue, PrepareIncoming, the host's
 * capabilities) read the current value at every decision; listeners hear of
 * a change so a raised outgoing limit starts queued jobs at once.
 */
import { invalidArgument } from '../../shared/errors.js';

export const LIMIT_RANGE = { min: 1, max: 64 } as const;

export interface LimitValues {
  maxOutgoing: number;
  maxIncoming: number;
}

export class HostLimits implements LimitValues {
  private values: LimitValues;
  private readonly listeners = new Set<(now: LimitValues, before: LimitValues) => void>();

  constructor(initial: LimitValues) {
    this.values = checked(initial);
  }

  get maxOutgoing(): number {
    return this.values.maxOutgoing;
  }

  get maxIncoming(): number {
    return this.values.maxIncoming;
  }

  /** Changes the given limits; INVALID_ARGUMENT (nothing changed) for one out of range. */
  set(change: Partial<LimitValues>): LimitValues {
    const before = { ...this.values };
    this.values = checked({ ...this.values, ...definedOnly(change) });
    if (before.maxOutgoing !== this.values.maxOutgoing || before.maxIncoming !== this.values.maxIncoming) {
      for (const listener of this.listeners) listener({ ...this.values }, before);
    }
    return { ...this.values };
  }

  onChange(listener: (now: LimitValues, before: LimitValues) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

function checked(values: LimitValues): LimitValues {
  for (const [key, field] of [
    ['maxOutgoing', 'max_outgoing'],
    ['maxIncoming', 'max_incoming'],
  ] as const) {
    const v = values[key];
    if (!Number.isInteger(v) || v < LIMIT_RANGE.min || v > LIMIT_RANGE.max) {
      throw invalidArgument(field, `must be from ${LIMIT_RANGE.min} to ${LIMIT_RANGE.max}, got ${v}`);
    }
  }
  return { maxOutgoing: values.maxOutgoing, maxIncoming: values.maxIncoming };
}

function definedOnly(change: Partial<LimitValues>): Partial<LimitValues> {
  const out: Partial<LimitValues> = {};
  if (change.maxOutgoing !== undefined) out.maxOutgoing = change.maxOutgoing;
  if (change.maxIncoming !== undefined) out.maxIncoming = change.maxIncoming;
  return out;
}
