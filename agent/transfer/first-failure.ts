// One side of a transfer stops at its first failure, whoever notices it (the frame reader, the
// sink, the source, the signal, a timer): the first error is kept, later ones are consequences,
// and every wait of that side is raced against it so that nothing hangs on a dead connection.

export class FirstFailure {
  private first: Error | null = null;
  private readonly controller = new AbortController();
  private readonly failed: Promise<never>;
  private rejectFailed: (err: Error) => void = () => undefined;

  constructor() {
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    this.failed.catch(() => undefined); // observed through race() and error
  }

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
    this.rejectFailed(err);
    this.controller.abort(err);
    return true;
  }

  /** `promise`, or the first failure if it comes before. */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.first) {
      promise.catch(() => undefined);
      return Promise.reject(this.first);
    }
    return Promise.race([promise, this.failed]);
  }
}

/** What an AbortSignal was aborted with, for a message. */
export function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason.message : String(reason ?? 'aborted');
}
