// Splits the transfer's byte stream into frames (frames.ts), fed chunk by chunk as TLS delivers
// them (records of at most 16 KiB), in the manner of agent/libvirt/wire/frame-decoder.ts:
//
// - a frame whole inside a chunk is sliced out of it without a copy;
// - a frame split across chunks is copied once into a buffer of its own size, allocated when its
//   length word is known, so a 256 KiB DATA frame in 16 KiB records costs one copy;
// - a frame already handed out is never written to again (its bytes may sit in a sink's queue);
// - a length outside what its type allows is a framing error: the next frame cannot be found, so
//   the decoder throws and stays failed.

import { TransferError } from './errors.js';
import {
  FRAME_HEADER_LENGTH,
  FrameType,
  MAX_DATA_LENGTH,
  MAX_REASON_LENGTH,
  MAX_VOLUME_ID_LENGTH,
  PROTOCOL_MAGIC,
  SHA256_LENGTH,
  TOKEN_LENGTH,
  VERDICTS,
  type Frame,
  type VolumeDigest,
} from './frames.js';

/** The body lengths each type allows, [min, max]. */
const BODY_LENGTHS: ReadonlyMap<number, readonly [number, number]> = new Map([
  [FrameType.HELLO, [6 + TOKEN_LENGTH, 6 + TOKEN_LENGTH]],
  [FrameType.ACCEPT, [0, 0]],
  [FrameType.VOLUME, [9, 8 + MAX_VOLUME_ID_LENGTH]],
  [FrameType.DATA, [1, MAX_DATA_LENGTH]],
  [FrameType.HOLE, [8, 8]],
  [FrameType.END, [48, 48]],
  [FrameType.ACK, [50, 49 + MAX_VOLUME_ID_LENGTH]],
  [FrameType.ABORT, [0, MAX_REASON_LENGTH]],
]);

const EMPTY = Buffer.alloc(0);

export class TransferFrameDecoder {
  /** Bytes of an unfinished frame, or the rest of the last chunk. */
  private buf: Buffer = EMPTY;
  private len = 0;
  /** Whole length of the frame being gathered into `buf` (0: not gathering). */
  private gathering = 0;
  private failure: TransferError | null = null;

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.len;
  }

  /** Feeds one chunk; calls `onFrame` for each whole frame, in order. Throws TransferError ('protocol'). */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    if (this.failure) throw this.failure;
    let at = 0;
    while (at < chunk.length) {
      if (this.gathering > 0) {
        const take = Math.min(this.gathering - this.len, chunk.length - at);
        chunk.copy(this.buf, this.len, at, at + take);
        this.len += take;
        at += take;
        if (this.len < this.gathering) return;
        const whole = this.buf;
        this.reset();
        onFrame(this.parse(whole));
        continue;
      }
      // Fewer bytes than a header: keep them (a copy of at most 4 bytes) and wait for more.
      const rest = this.len > 0 ? Buffer.concat([this.buf.subarray(0, this.len), chunk.subarray(at)]) : chunk.subarray(at);
      if (rest.length < FRAME_HEADER_LENGTH) {
        this.buf = Buffer.from(rest);
        this.len = rest.length;
        return;
      }
      const total = 4 + this.checkedLength(rest);
      const consumedBefore = this.len;
      this.len = 0;
      this.buf = EMPTY;
      if (rest.length >= total) {
        onFrame(this.parse(rest.subarray(0, total)));
        at += total - consumedBefore;
        continue;
      }
      this.gathering = total;
      this.buf = Buffer.allocUnsafe(total);
      rest.copy(this.buf, 0);
      this.len = rest.length;
      return;
    }
  }

  /** At the end of the stream: a frame cut short is an error. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.len > 0) throw this.fail(`the connection ended inside a frame (${this.len} bytes of it received)`);
  }

  private reset(): void {
    this.buf = EMPTY;
    this.len = 0;
    this.gathering = 0;
  }

  private checkedLength(head: Buffer): number {
    const length = head.readUInt32BE(0);
    const type = head.readUInt8(4);
    const limits = BODY_LENGTHS.get(type);
    if (!limits) throw this.fail(`unknown frame type 0x${type.toString(16).padStart(2, '0')}`);
    const body = length - 1;
    if (length < 1 || body < limits[0] || body > limits[1]) {
      throw this.fail(
        `frame type 0x${type.toString(16).padStart(2, '0')} with a body of ${body} bytes (allowed ${limits[0]}..${limits[1]})`,
      );
    }
    return length;
  }

  private parse(whole: Buffer): Frame {
    const type = whole.readUInt8(4);
    const body = whole.subarray(FRAME_HEADER_LENGTH);
    switch (type) {
      case FrameType.HELLO: {
        if (body.toString('latin1', 0, 4) !== PROTOCOL_MAGIC) throw this.fail('HELLO without the transfer protocol magic');
        return { type: 'hello', version: body.readUInt16BE(4), token: body.subarray(6) };
      }
      case FrameType.ACCEPT:
        return { type: 'accept' };
      case FrameType.VOLUME:
        return { type: 'volume', size: this.size(body, 0, 'VOLUME size'), id: body.toString('utf8', 8) };
      case FrameType.DATA:
        return { type: 'data', data: body };
      case FrameType.HOLE: {
        const length = this.size(body, 0, 'HOLE length');
        if (length === 0) throw this.fail('a HOLE of 0 bytes');
        return { type: 'hole', length };
      }
      case FrameType.END:
        return { type: 'end', ...this.digest(body, 0) };
      case FrameType.ACK: {
        const verdict = VERDICTS[body.readUInt8(0)];
        if (!verdict) throw this.fail(`ACK with an unknown verdict ${body.readUInt8(0)}`);
        return { type: 'ack', verdict, ...this.digest(body, 1), id: body.toString('utf8', 49) };
      }
      default:
        return { type: 'abort', reason: body.toString('utf8') };
    }
  }

  private digest(body: Buffer, at: number): VolumeDigest {
    return {
      sha256: body.subarray(at, at + SHA256_LENGTH),
      dataBytes: this.size(body, at + 32, 'data bytes'),
      holeBytes: this.size(body, at + 40, 'hole bytes'),
    };
  }

  private size(body: Buffer, at: number, what: string): number {
    const value = body.readBigUInt64BE(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(`${what} ${value} is beyond 2^53`);
    return Number(value);
  }

  private fail(message: string): TransferError {
    this.failure = new TransferError('protocol', `transfer framing error: ${message}`);
    this.reset();
    return this.failure;
  }
}
