/**
 * The host's outgoing limit: a FIFO of waiters for a fixed (but runtime
 * changeable) number of slots. A waiter that is cancelled leaves the queue
 * without taking a slot.
 */
export class SlotQueue {
  private inUse = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly limit: () => number) {}

  /** A slot now if one is free and nobody waits for it, without waiting. */
  tryAcquire(): (() => void) | undefined {
    if (this.inUse >= this.limit() || this.waiters.length > 0) return undefined;
    this.inUse++;
    return this.releaser();
  }

  /** Resolves with a release function, or undefined if the signal aborted first. */
  async acquire(signal: AbortSignal): Promise<(() => void) | undefined> {
    if (signal.aborted) return undefined;
    if (this.inUse >= this.limit() || this.waiters.length > 0) {
      const granted = await new Promise<boolean>((resolve) => {
        const wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve(true);
        };
        const onAbort = () => {
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(false);
        };
        this.waiters.push(wake);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      if (!granted) return undefined; // else wakeNext counted the slot for us
    } else {
      this.inUse++;
    }
    return this.releaser();
  }

  /**
   * Takes a slot now, even above the limit: for a migration that already runs
   * in libvirt (reattached after a restart), which no limit can postpone.
   */
  claim(): () => void {
    this.inUse++;
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      this.wakeNext();
    };
  }

  /** Hands free slots to waiters, e.g. after the limit was raised. */
  wakeNext(): void {
    while (this.inUse < this.limit()) {
      const wake = this.waiters.shift();
      if (!wake) return;
      this.inUse++;
      wake();
    }
  }
}
