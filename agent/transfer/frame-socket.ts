// Frames over one TLS socket, with back-pressure both ways: frames are read only about as fast as
// the reader asks for them (frame-reader.ts pauses the socket when a frame's worth waits, so an
// unread socket fills its buffer and TCP stops the other side), and a write waits for 'drain' once
// the socket holds more than its high-water mark. So each side keeps about one frame plus the
// socket's buffers.

import type { TLSSocket } from 'node:tls';
import { TransferError, isTransferError } from './errors.js';
import { FrameReader } from './frame-reader.js';
import { encodeAbort, type Frame } from './frames.js';

/** Nothing read or written for this long fails a transfer, unless the caller says otherwise. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/** How long a closing side waits for the other to read its last frames before dropping the connection. */
export const CLOSE_GRACE_MS = 5000;

export class FrameSocket {
  /** The frames received, in order; ends when the other side ends the connection. */
  readonly frames: AsyncIterator<Frame>;

  private idleTimeoutMs = 0;

  constructor(
    readonly socket: TLSSocket,
    idleTimeoutMs: number,
  ) {
    socket.setNoDelay(true); // ACKs and ABORTs are small and must not wait for Nagle
    socket.on('error', () => undefined); // read through socket.errored (lost()) and the frame reader
    socket.on('timeout', () => {
      socket.destroy(new TransferError('deadline', `nothing moved on the transfer connection for ${this.idleTimeoutMs / 1000} s`));
    });
    this.setIdleTimeout(idleTimeoutMs);
    this.frames = new FrameReader(socket);
  }

  /** Fails the connection when nothing is read or written for this long (0: never). */
  setIdleTimeout(ms: number): void {
    this.idleTimeoutMs = ms;
    this.socket.setTimeout(ms);
  }

  /** "198.19.0.1:40112", for messages. */
  get peer(): string {
    return `${this.socket.remoteAddress ?? 'unknown'}:${this.socket.remotePort ?? '?'}`;
  }

  /** Writes one frame (its pieces in order) and waits while the socket is over its high-water mark. */
  async write(...pieces: Uint8Array[]): Promise<void> {
    if (this.socket.destroyed || this.socket.writableEnded) throw this.lost();
    // No cork(): a TLS socket copies the pieces of a corked (writev) write into one buffer before
    // encrypting them; separate writes cost a 5-byte TLS record per DATA frame instead of a copy.
    let ok = true;
    for (const piece of pieces) ok = this.socket.write(piece);
    if (!ok) await this.drained();
  }

  /** Tells the other side why (best effort, after what is queued), then closes. */
  abort(reason: string): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.end(encodeAbort(reason));
    this.dropAfterGrace();
  }

  /** Ends our side and waits until the connection is closed. */
  async finish(): Promise<void> {
    if (this.socket.closed) return;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    if (!this.socket.writableEnded) this.socket.end();
    this.dropAfterGrace();
    await closed;
  }

  /** The error of a connection that is gone: its own (an idle timeout, a reset) or "closed". */
  lost(): TransferError {
    const cause = this.socket.errored;
    if (isTransferError(cause)) return cause;
    const why = cause ? cause.message : 'closed by the other side';
    return new TransferError('connection', `the transfer connection with ${this.peer} was lost: ${why}`, { cause });
  }

  private dropAfterGrace(): void {
    // A peer that never reads would keep the socket (and its queued frames) forever.
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private drained(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(this.lost());
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }
}
