// The source's cap on a transfer's data rate (a migration's max_bandwidth_mibps): a token bucket
// of bytes, refilled at the rate and holding at most BURST_SECONDS of it, so that a volume's
// frames leave at the rate on average and never in a burst larger than that. Only DATA frames
// spend tokens: a HOLE frame is a few bytes whatever the hole's length. The waiting is what
// slows the source's reads too, through back-pressure (the libvirt download is read only as
// fast as frames are written). libvirt's own cap for a live migration works alike
// (migrate_set_parameter max-bandwidth, a rate QEMU's migration thread sleeps to keep). The rate
// is read at every take, so a cap changed while a transfer runs holds from its next frame.

/** The bucket holds this much of the rate: a 256 KiB frame fits at 2.5 MiB/s and more. */
const BURST_SECONDS = 0.1;

export class RateLimit {
  private tokens = Number.POSITIVE_INFINITY; // a full bucket, whatever the first rate
  private last: number;

  /**
   * @param bytesPerSecond the cap now; 0 or less: none (takes pass at once)
   * @param now monotonic milliseconds (tests pass their own clock)
   * @param sleep waits the milliseconds given
   */
  constructor(
    private readonly bytesPerSecond: () => number,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    this.last = now();
  }

  /** Resolves once `bytes` may be sent; a piece larger than the bucket waits for it whole, then leaves the bucket in debt. */
  async take(bytes: number): Promise<void> {
    const rate = this.bytesPerSecond();
    if (!(rate > 0)) {
      this.tokens = Number.POSITIVE_INFINITY;
      this.last = this.now();
      return;
    }
    const burst = rate * BURST_SECONDS;
    this.refill(rate, burst);
    const missing = Math.min(bytes, burst) - this.tokens;
    if (missing > 0) {
      await this.sleep((missing / rate) * 1000);
      this.refill(rate, burst);
    }
    this.tokens -= bytes;
  }

  private refill(rate: number, burst: number): void {
    const at = this.now();
    this.tokens = Math.min(burst, this.tokens + ((at - this.last) / 1000) * rate);
    this.last = at;
  }
}
