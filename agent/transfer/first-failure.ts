// One side of a transfer stops at its first failure, whoever notices it (the frame reader, the
// sink, the source, the signal, a timer): the first error is kept, later ones are consequences,
// and every wait of that side is raced against it so that nothing hangs on a dead connection.

export class FirstFailure {
  private first: Error | null = null;
  private readonly controller = new AbortController();
  /** The rejecters of the waits in progress. Not Promise.race against one pending promise: each
   * race would leave a reaction on it holding its result (a whole DATA frame) until the end. */
  private readonly waits = new Set<(err: Error) => void>();

  get error(): Error | null {
    return this.first;
  }

  /** Aborted at the first failure (with it as its reason). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Records `err` unless a failure came first; true when it was the first. */
  fail(err: Error): boolean {
    if (this.first) return false;
    this.first = err;
    for (const reject of this.waits) reject(err);
    this.waits.clear();
    this.controller.abort(err);
    return true;
  }

  /** `promise`, or the first failure if it comes before. */
  race<T>(promise: Promise<T>): Promise<T> {
    const first = this.first;
    if (first) {
      promise.catch(() => undefined);
      return Promise.reject(first);
    }
    return new Promise<T>((resolve, reject) => {
      this.waits.add(reject);
      promise.then(
        (value) => {
          this.waits.delete(reject);
          resolve(value);
        },
        (err: unknown) => {
          this.waits.delete(reject);
          reject(err);
        },
      );
    });
  }
}

/** What an AbortSignal was aborted with, for a message. */
export function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason.message : String(reason ?? 'aborted');
}
