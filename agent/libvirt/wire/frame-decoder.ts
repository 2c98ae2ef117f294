// Splits a byte stream into libvirt packets (pg-protocol's accumulator, adapted).
//
// - Complete packets inside a chunk are sliced out of it without copying.
// - A partial packet is copied into a buffer sized for the whole packet as soon as its length
//   word is known, so a 32 MiB reply arriving in 64 KiB chunks is copied once, not O(n^2).
// - Buffers are never compacted in place: a packet already handed out stays valid.
// - A bad length (smaller than a header, or above the cap) is a framing error: we cannot find the
//   next packet boundary any more, so we throw and stay failed. The connection must then be
//   destroyed and everything pending rejected (go-libvirt `continue`s here; we deliberately don't).

import { ProtocolError } from '../errors.js';
import { LEN_LENGTH, MAX_MESSAGE, MIN_PACKET, decodePacket, type Packet } from './packet.js';

const EMPTY = Buffer.alloc(0);

export class FrameDecoder {
  private buf: Buffer = EMPTY;
  private start = 0;
  private len = 0;
  /** True when `buf` is our own allocation (so appending into its tail is allowed). */
  private owned = false;
  private failure: ProtocolError | null = null;

  /** @param maxPacket largest accepted packet, length word included */
  constructor(private readonly maxPacket = MAX_MESSAGE + LEN_LENGTH) {}

  /** Bytes held back waiting for the rest of a packet (for tests and diagnostics). */
  get buffered(): number {
    return this.len;
  }

  /**
   * Feeds one chunk; calls `onPacket` for every complete packet, in order.
   * Throws ProtocolError on a framing error (and on every later call).
   */
  push(chunk: Buffer, onPacket: (p: Packet) => void): void {
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return;
    if (this.len === 0) {
      this.buf = chunk;
      this.start = 0;
      this.len = chunk.length;
      this.owned = false;
    } else {
      this.append(chunk);
    }
    while (this.len >= LEN_LENGTH) {
      const total = this.buf.readUInt32BE(this.start);
      if (total < MIN_PACKET || total > this.maxPacket) {
        this.failure = new ProtocolError(`framing error: packet length ${total} outside [${MIN_PACKET}, ${this.maxPacket}]`);
        this.reset();
        throw this.failure;
      }
      if (this.len < total) {
        this.reserve(total);
        break;
      }
      const packet = this.buf.subarray(this.start, this.start + total);
      this.start += total;
      this.len -= total;
      if (this.len === 0) this.reset();
      onPacket(decodePacket(packet));
    }
  }

  private reset(): void {
    this.buf = EMPTY;
    this.start = 0;
    this.len = 0;
    this.owned = false;
  }

  /** Makes sure the buffer can hold `total` bytes from `start` (allocating once per packet). */
  private reserve(total: number): void {
    if (this.owned && this.start + total <= this.buf.length) return;
    this.realloc(total);
  }

  private append(chunk: Buffer): void {
    const need = this.len + chunk.length;
    if (!this.owned || this.start + need > this.buf.length) {
      this.realloc(Math.max(need, Math.min(this.maxPacket, this.len * 2)));
    }
    chunk.copy(this.buf, this.start + this.len);
    this.len += chunk.length;
  }

  private realloc(capacity: number): void {
    const next = Buffer.allocUnsafe(Math.max(capacity, this.len));
    this.buf.copy(next, 0, this.start, this.start + this.len);
    this.buf = next;
    this.start = 0;
    this.owned = true;
  }
}
