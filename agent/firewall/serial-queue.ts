/**
 * A one-at-a-time queue for firewall changes. Every change reads and writes the
 * same chain; two iptables-restore calls in flight at once could interleave a
 * full rewrite with an insert and lose a rule, so changes run strictly in the
 * order they were asked for. A failed task does not stop the ones behind it.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private depth = 0;

  run<T>(task: () => Promise<T>): Promise<T> {
    this.depth++;
    const result = this.tail.then(task);
    // The next task waits for this one to settle, whatever the outcome.
    this.tail = result.then(
      () => this.depth--,
      () => this.depth--,
    );
    return result;
  }

  /** Tasks queued or running (for tests and the benchmark). */
  get pending(): number {
    return this.depth;
  }
}
