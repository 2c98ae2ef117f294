// Waiting in tests: a pause, and polling a condition until it holds or a
// timeout fails the test saying what was awaited.
import assert from 'node:assert/strict';

/** Resolves after ms. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface UntilOptions {
  /** How long to keep polling before failing; 5 s unless told. */
  timeoutMs?: number;
  /** Pause between two polls; 5 ms unless told. */
  everyMs?: number;
  /** What else to say when the wait fails (what was seen instead). */
  detail?: () => string;
}

type Truthy<T> = Exclude<T, undefined | null | false | 0 | ''>;

/**
 * Polls check() until it returns a truthy value, and returns that value; fails
 * with "timed out after N ms waiting for <what>" once timeoutMs has passed.
 */
export async function until<T>(what: string, check: () => T | PromiseLike<T>, options: UntilOptions = {}): Promise<Truthy<T>> {
  const { timeoutMs = 5_000, everyMs = 5, detail } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Truthy<T>;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `; ${detail()}` : ''}`);
    await sleep(everyMs);
  }
}
