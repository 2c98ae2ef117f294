// The Clock port's stand-ins: one whose sleeps end at once, and a manual one
// that moves only when the test says so; and settle(), which lets pending
// promise chains run.
import type { Clock } from '../../../agent/migration/ports.js';

/** A clock whose sleeps end at once (polls still yield to the event loop). */
export const fastClock: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms).unref();
    return () => clearTimeout(timer);
  },
  sleep: (_ms, signal) => new Promise((resolve) => (signal?.aborted ? resolve() : setTimeout(resolve, 1))),
};

/** A clock that only moves when the test says so; sleeps end when it passes their end. */
export class ManualClock implements Clock {
  private t = 1_000_000;
  private sleepers: Array<{ until: number; wake: () => void }> = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const entry = { until: this.t + Math.max(0, ms), wake: () => resolve() };
      this.sleepers.push(entry);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((e) => e !== entry);
          resolve();
        },
        { once: true },
      );
    });
  }
  after(ms: number, fn: () => void): () => void {
    const stop = new AbortController();
    void this.sleep(ms, stop.signal).then(() => {
      if (!stop.signal.aborted) fn();
    });
    return () => stop.abort();
  }
  /** Moves time forward, waking sleepers in order and letting each run. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const next = this.sleepers.filter((e) => e.until <= end).sort((a, b) => a.until - b.until)[0];
      if (!next) break;
      this.t = Math.max(this.t, next.until);
      this.sleepers = this.sleepers.filter((e) => e !== next);
      next.wake();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Lets pending promise chains and short timers run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
