// The frames received on a transfer connection, as an async iterator, with back-pressure: the
// socket is paused while more than QUEUED_LIMIT bytes of frames wait to be read, so an unread
// socket fills its buffers and TCP stops the other side. Fed by 'data' events rather than the
// socket's own async iterator: TLS hands over 16 KiB at a time, and a promise and an iterator
// step per 16 KiB cost the destination's main thread more than a tenth of its time; here the
// reader pays for each frame (256 KiB of data) instead.

import type { TLSSocket } from 'node:tls';
import { TransferFrameDecoder } from './frame-decoder.js';
import type { Frame } from './frames.js';

/**
 * Frames read from the socket but not yet by the transfer, before the socket pauses: 16 DATA
 * frames. One frame (256 KiB) paused the socket at every hiccup of the sink, and on a link with a
 * few ms of queueing each pause cost a round trip: 0.55 × a 1 Gbit/s line rate against 0.9 with
 * 4 MiB (scripts/bench cold-migration).
 */
export const QUEUED_LIMIT = 4 * 1024 * 1024;

export class FrameReader implements AsyncIterator<Frame> {
  private readonly decoder = new TransferFrameDecoder();
  private readonly queue: Frame[] = [];
  private queuedBytes = 0;
  private ended = false;
  private failure: unknown = null;
  private waiting: { resolve(r: IteratorResult<Frame>): void; reject(err: unknown): void } | null = null;

  constructor(private readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    socket.on('end', () => {
      try {
        this.decoder.end();
      } catch (err) {
        this.failure ??= err;
      }
      this.ended = true;
      this.settle();
    });
    socket.on('close', () => {
      // Closed without an end: destroyed (an error, an idle timeout) or reset; its error, if any, says why.
      if (!this.ended) this.failure ??= socket.errored ?? new Error('the connection closed before it ended');
      this.ended = true;
      this.settle();
    });
  }

  next(): Promise<IteratorResult<Frame>> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.settle();
    });
  }

  private push(chunk: Buffer): void {
    if (this.failure) return;
    try {
      this.decoder.push(chunk, (frame) => {
        this.queue.push(frame);
        this.queuedBytes += frame.type === 'data' ? frame.data.length : 64;
      });
    } catch (err) {
      this.failure = err;
      this.socket.pause(); // nothing after a framing error can be read
    }
    if (this.queuedBytes > QUEUED_LIMIT) this.socket.pause();
    this.settle();
  }

  /** Answers the waiting next(): a frame first (those before a failure are still delivered), then the failure or the end. */
  private settle(): void {
    const waiting = this.waiting;
    if (!waiting) return;
    const frame = this.queue.shift();
    if (frame) {
      this.waiting = null;
      this.queuedBytes -= frame.type === 'data' ? frame.data.length : 64;
      if (this.queuedBytes <= QUEUED_LIMIT && !this.failure && this.socket.isPaused()) this.socket.resume();
      waiting.resolve({ value: frame, done: false });
    } else if (this.failure) {
      this.waiting = null;
      waiting.reject(this.failure);
    } else if (this.ended) {
      this.waiting = null;
      waiting.resolve({ value: undefined, done: true });
    }
  }
}
