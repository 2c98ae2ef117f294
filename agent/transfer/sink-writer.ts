// Writes one volume's chunks into the destination's sink (in production the libvirt upload,
// whose write callback comes once libvirtd's socket took the packet) and hashes what the sink
// took: each chunk is hashed in its write callback, as it is once the sink says it is written, so
// a sink that changes a buffer in place (a bug, a transform) shows up as a checksum mismatch
// instead of a silently different disk.
import type { Writable } from 'node:stream';
import { TransferError } from './errors.js';
import type { VolumeDigest } from './frames.js';
import { LogicalHash, type VolumeChunk } from './volume-chunks.js';

export class SinkWriter {
  private readonly hash = new LogicalHash();
  private pending = 0;
  private failure: TransferError | null = null;
  private wake: () => void = () => undefined;

  constructor(
    private readonly sink: Writable,
    private readonly volumeId: string,
  ) {
    sink.on('error', (err) => this.fail(err));
    sink.on('close', () => {
      if (!sink.writableFinished) this.fail(new Error('the sink closed before the volume was written'));
    });
  }

  /** Hands one chunk to the sink; waits while the sink is over its high-water mark or the hashing threads are behind. */
  async write(chunk: VolumeChunk): Promise<void> {
    this.throwIfFailed();
    this.pending += 1;
    const ready = this.sink.write(chunk, (err) => {
      this.pending -= 1;
      if (err) this.fail(err);
      else this.hash.add(chunk);
      this.wake();
    });
    if (!ready) await this.until(() => !this.sink.writableNeedDrain, 'drain');
  }

  /** Waits until the sink took every chunk written, then says what it took. */
  async written(): Promise<VolumeDigest> {
    await this.until(() => this.pending === 0);
    return this.hash.digest();
  }

  /** Ends the sink and waits for its 'finish' (for the libvirt upload: libvirtd confirmed the volume). */
  async finish(): Promise<void> {
    this.throwIfFailed();
    this.sink.end();
    await this.until(() => this.sink.writableFinished, 'finish');
  }

  /** Abandons the volume (the libvirt upload then tells libvirtd to abort, so it is not left looking complete). */
  abandon(reason: Error): void {
    if (!this.sink.destroyed) this.sink.destroy(reason);
  }

  private fail(err: Error): void {
    this.failure ??= new TransferError('sink', `writing volume ${this.volumeId} failed: ${err.message}`, { cause: err });
    this.wake();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private until(done: () => boolean, event?: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.failure) {
          cleanup();
          reject(this.failure);
        } else if (done()) {
          cleanup();
          resolve();
        }
      };
      const cleanup = () => {
        this.wake = () => undefined;
        if (event) this.sink.off(event, check);
      };
      this.wake = check;
      if (event) this.sink.on(event, check);
      check();
    });
  }
}
