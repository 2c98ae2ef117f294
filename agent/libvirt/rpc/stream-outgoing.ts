// Data to libvirtd (virStorageVolUpload…) as a Node Writable in object mode: it takes Buffer
// (or Uint8Array) chunks and, on a sparse stream, StreamHole objects, so a download piped into an
// upload carries holes as holes. end() sends the finish request and 'finish' fires only once
// libvirtd has confirmed it: the data is then in the volume (virStreamFinish ran in libvirtd).
//
// Back-pressure: a write's callback waits until the socket has taken its packets (the socket's
// 'drain'), so a libvirtd that reads slowly (it stops reading a client with max_client_requests
// packets unprocessed, src/remote/libvirtd.conf.in) makes the writer wait instead of Ferry
// buffering the whole disk. Memory is bounded by highWaterMark chunks of the caller's size plus
// the socket's own buffer.

import { Writable } from 'node:stream';
import { XdrEncodeError } from '../errors.js';
import type { Packet } from '../wire/packet.js';
import type { StreamSink } from './connection.js';
import { keepErrorsForTheConsumer, nodeStreamOptions, isStreamHole, type StreamChannel, type StreamOptions } from './stream.js';

type Callback = (error?: Error | null) => void;

export class OutgoingStream extends Writable implements StreamSink {
  /** 'open' while writing; 'finishing' once our finish is sent; 'done' when settled either way. */
  private phase: 'open' | 'finishing' | 'done' = 'open';
  private onFinished: Callback | null = null;

  constructor(
    private readonly channel: StreamChannel,
    opts: StreamOptions = {},
  ) {
    super(nodeStreamOptions(opts));
    keepErrorsForTheConsumer(this);
  }

  /** Whether holes may be written (the call asked for a sparse stream). */
  get sparse(): boolean {
    return this.channel.sparse;
  }

  onStreamPacket(p: Packet): void {
    if (this.phase === 'done') return;
    const event = this.channel.interpret(p);
    if (!event) return;
    if (event.kind === 'failed') {
      this.fail(event.error);
    } else if (event.kind === 'finished' && this.phase === 'finishing') {
      this.phase = 'done';
      this.channel.close();
      this.onFinished?.();
    }
    // Data from libvirtd on an upload means nothing; libvirtd sends none.
  }

  onStreamInterrupted(err: Error): void {
    this.fail(err);
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: Callback): void {
    this.send(chunk).then(() => callback(), callback);
  }

  override _final(callback: Callback): void {
    if (this.phase !== 'open') {
      callback(new XdrEncodeError(`${this.channel.name}: the stream already ended`));
      return;
    }
    this.phase = 'finishing';
    this.onFinished = callback;
    this.channel.finish();
  }

  override _destroy(err: Error | null, callback: Callback): void {
    // Destroyed by its writer (or its signal) before libvirtd confirmed: tell libvirtd to stop,
    // so the volume is not left looking complete.
    if (this.phase !== 'done') {
      this.phase = 'done';
      this.channel.abort();
    }
    callback(err);
  }

  private async send(chunk: unknown): Promise<void> {
    if (isStreamHole(chunk)) {
      if (!this.channel.sparse) {
        // libvirtd drops the whole connection on a hole it did not agree to (daemonStreamHandleHole).
        throw new XdrEncodeError(`${this.channel.name}: a hole needs a sparse stream (the call's SPARSE_STREAM flag)`);
      }
      return this.channel.sendHole(chunk.hole);
    }
    if (!(chunk instanceof Uint8Array)) {
      throw new XdrEncodeError(`${this.channel.name}: expected a Buffer or a { hole } object, got ${typeof chunk}`);
    }
    return this.channel.sendData(chunk);
  }

  private fail(err: Error): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.channel.close(err);
    if (this.onFinished) this.onFinished(err);
    else this.destroy(err);
  }
}
