/**
 * How long a source waits before asking a busy destination again
 * (PrepareIncoming answered RESOURCE_EXHAUSTED). Exponential with jitter:
 * sources that were turned away together do not all come back together,
 * and a destination that stays full is asked at most every maxMs. vdsm
 * retries every 10 s for ever; here the job's queue_timeout ends it.
 */
export interface BackoffOptions {
  /** Delay before the first retry. */
  initialMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  /** ± this fraction of the delay, at random. */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 1000, maxMs: 15_000, jitter: 0.2 });

/** The delay before retry number `attempt` (1 = the first retry). */
export function backoffDelayMs(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const base = Math.min(options.maxMs, options.initialMs * 2 ** exponent);
  const spread = base * options.jitter * (2 * random() - 1);
  return Math.max(0, Math.min(options.maxMs, Math.round(base + spread)));
}
