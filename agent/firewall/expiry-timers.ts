/**
 * The agent's side of a pinhole's expiry: one timer per open hole that closes
 * it when its expiry has passed, so that its ports are freed and its rule
 * removed. The kernel enforces the expiry anyway (a timed set element,
 * --datestop); these timers only tidy up. Apart from pinhole-firewall.ts so
 * that the record of holes and the timers that follow them stay two things.
 */
import type { Pinhole } from './firewall.js';

export class ExpiryTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  /** `now`: the wall clock (epoch ms) the holes' expiries are in. */
  constructor(private readonly now: () => number) {}

  /** Calls `expire` once the hole's expiry has passed (after the timer forgot itself). */
  arm(hole: Pinhole, expire: () => void): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(hole.id);
        expire();
      },
      Math.max(0, hole.expiresAt - this.now()),
    );
    // The kernel enforces expiry anyway; a pending timer must not keep the process alive.
    timer.unref();
    this.timers.set(hole.id, timer);
  }

  disarm(id: string): void {
    const timer = this.timers.get(id);
    if (timer) clearTimeout(timer);
    this.timers.delete(id);
  }

  disarmAll(): void {
    for (const id of [...this.timers.keys()]) this.disarm(id);
  }
}
