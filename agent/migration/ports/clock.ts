/**
 * The Clock port and the system's clock: every wait of the core goes through
 * it, so unit tests run on a manual one.
 */

/** Every wait and every reading of the time in the core goes through this (tests move a manual one). */
export interface Clock {
  now(): number;
  /** Resolves after ms, or at once when the signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Runs fn once ms have passed, unless the returned function is called
   * first. A background expiry (a reservation's): it never keeps the
   * process alive by itself.
   */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, Math.max(0, ms)).unref();
    return () => clearTimeout(timer);
  },
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};
