// How far the source's end of a transfer has come, for whoever shows it (a job's status, a
// progress bar): data and hole bytes as their frames are written, the volume being sent, and the
// volumes the destination has verified. The listener is called at each volume boundary and at
// most every `intervalMs` in between, so that counting a 256 KiB frame costs an addition, not a
// callback.

/** What the source has sent so far, all volumes together. */
export interface SendProgress {
  /** The id of the volume being sent ('' before the first and once all are sent). */
  current: string;
  /** Volumes the destination acknowledged as verified. */
  verified: number;
  /** Data bytes written to the connection (holes excluded). */
  dataBytes: number;
  /** Hole bytes sent as HOLE frames (never as data). */
  holeBytes: number;
}

/** Data and hole frames in between volume boundaries report at most this often. */
export const PROGRESS_INTERVAL_MS = 250;

export class SendProgressMeter {
  private readonly progress: SendProgress = { current: '', verified: 0, dataBytes: 0, holeBytes: 0 };
  private lastReportAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly listener: ((progress: SendProgress) => void) | undefined,
    private readonly intervalMs = PROGRESS_INTERVAL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A VOLUME frame was written: `id` is now the volume being sent. */
  volumeStarted(id: string): void {
    this.progress.current = id;
    this.report();
  }

  data(bytes: number): void {
    this.progress.dataBytes += bytes;
    this.reportIfDue();
  }

  hole(bytes: number): void {
    this.progress.holeBytes += bytes;
    this.reportIfDue();
  }

  /** The END of the last volume was written: nothing is being sent any more. */
  allSent(): void {
    this.progress.current = '';
    this.report();
  }

  /** The destination's ACK said verified. */
  verified(): void {
    this.progress.verified += 1;
    this.report();
  }

  private reportIfDue(): void {
    if (this.now() - this.lastReportAt >= this.intervalMs) this.report();
  }

  private report(): void {
    if (!this.listener) return;
    this.lastReportAt = this.now();
    try {
      this.listener({ ...this.progress });
    } catch {
      // A listener that throws must not fail the transfer: progress is for showing, not deciding.
    }
  }
}
