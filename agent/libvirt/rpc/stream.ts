// One libvirt stream on a connection: the serial it is bound to and the packets its two ends
// send. The Node streams over it are stream-incoming.ts (data from libvirtd, a Readable) and
// stream-outgoing.ts (data to libvirtd, a Writable).
//
// The protocol, as libvirt's src/rpc/virnetclientstream.c and src/remote/remote_daemon_stream.c
// speak it (9.0.0), all packets carrying the opening call's procedure and serial:
// - data: VIR_NET_STREAM, status CONTINUE, the raw bytes, at most STREAM_DATA_MAX per packet;
//   from libvirtd, an empty CONTINUE packet is the end of the data (virStreamRecv's EOF).
// - a hole (sparse streams only): VIR_NET_STREAM_HOLE, status CONTINUE, a virNetStreamHole.
// - finish: the sender of the data (or, for a download, the receiver once it saw the end) sends
//   an empty STREAM with status OK; libvirtd answers with its own empty STREAM OK once the
//   storage backend has finished (virStreamFinish), or with an error. Only that answer means done.
// - abort: an empty STREAM with status ERROR.
// - a failure in libvirtd: status ERROR with a remote_error body, as a STREAM packet or as a
//   REPLY (daemonStreamHandleWriteData replies to the data packet that failed).
// Holes are a separate kind of chunk, never zeros: a StreamHole object in the Node streams.

import { ProtocolError } from '../errors.js';
import { MessageStatus, MessageType, STREAM_DATA_MAX, readStreamHole, writeStreamHole, type Packet } from '../wire/packet.js';
import type { ProcedureDef } from '../generated/remote_protocol.gen.js';
import { decodeLibvirtError, type CallOptions, type Connection, type StreamSink } from './connection.js';

/** A run of `hole` bytes that read as zeros and are not stored (a sparse stream's hole). */
export interface StreamHole {
  readonly hole: number;
}

export function isStreamHole(chunk: unknown): chunk is StreamHole {
  return typeof chunk === 'object' && chunk !== null && !ArrayBuffer.isView(chunk) && typeof (chunk as StreamHole).hole === 'number';
}

/** What a packet from libvirtd means to a stream. */
export type StreamEvent =
  | { kind: 'data'; data: Buffer }
  | { kind: 'hole'; length: number }
  | { kind: 'end' } // the sender's end of data (empty CONTINUE)
  | { kind: 'finished' } // libvirtd confirmed our finish (STREAM OK)
  | { kind: 'failed'; error: Error };

export interface StreamOptions {
  /** Objects (data chunks and holes) buffered before back-pressure applies; default 16. */
  highWaterMark?: number;
  /** Aborts the stream (sends the abort packet) when it fires. */
  signal?: AbortSignal;
}

export const DEFAULT_STREAM_HIGH_WATER_MARK = 16;

/**
 * A stream is handed over by an async call and can fail (libvirtd's error, a dropped connection)
 * before its consumer is attached — e.g. while the caller awaits the other end of a pipeline. An
 * 'error' event without a listener would crash the process, so the stream always has one; the
 * error is not lost: it stays in `stream.errored`, and iteration, pipeline() and finished() reject
 * with it even when they start after it happened.
 */
/** The Node stream options both directions share: object mode (chunks and holes), the caller's bound and signal. */
export function nodeStreamOptions(opts: StreamOptions): { objectMode: true; highWaterMark: number; signal?: AbortSignal } {
  return {
    objectMode: true,
    highWaterMark: opts.highWaterMark ?? DEFAULT_STREAM_HIGH_WATER_MARK,
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}

export function keepErrorsForTheConsumer(stream: NodeJS.EventEmitter): void {
  stream.on('error', () => {});
}

/**
 * Makes the call that opens a stream and returns the Node stream `create` builds over its channel
 * once libvirtd accepted the call. `callOpts` are the opening call's (its deadline, its signal).
 */
export async function openStream<A, S extends StreamSink & { destroy(err?: Error): unknown }>(
  conn: Connection,
  def: ProcedureDef<A, unknown>,
  args: A,
  sparse: boolean,
  create: (channel: StreamChannel) => S,
  callOpts: CallOptions = {},
): Promise<S> {
  const channel = new StreamChannel(conn, def.number, def.name, sparse);
  const stream = create(channel);
  try {
    await conn.callOpeningStream(
      def,
      args,
      (serial) => {
        channel.bind(serial);
        return stream;
      },
      callOpts,
    );
  } catch (err) {
    channel.close(); // first: a stream libvirtd never opened must not be sent an abort
    stream.destroy();
    throw err;
  }
  return stream;
}

/** The stream's serial on its connection, and the packets it sends. */
export class StreamChannel {
  private serial = -1;
  private closed = false;
  private readonly drainWaiters = new Set<{ resolve: () => void; reject: (e: Error) => void }>();
  private readonly offDrain: () => void;

  constructor(
    private readonly conn: Connection,
    readonly procedure: number,
    /** The procedure's name, for errors (e.g. 'STORAGE_VOL_UPLOAD'). */
    readonly name: string,
    /** Whether holes may travel (the call asked for a sparse stream). */
    readonly sparse: boolean,
  ) {
    this.offDrain = conn.onDrain(() => this.wake());
  }

  /** Binds the channel to the serial of the call that opened it (Connection.callOpeningStream). */
  bind(serial: number): void {
    this.serial = serial;
  }

  /** Reads a packet from libvirtd as a stream event. */
  interpret(p: Packet): StreamEvent | null {
    const { type, status } = p.header;
    if (status === MessageStatus.ERROR) return { kind: 'failed', error: decodeLibvirtError(this.name, p.payload) };
    if (type === MessageType.REPLY) return null; // a REPLY OK for a stream carries nothing
    if (type === MessageType.STREAM_HOLE) {
      if (!this.sparse) return { kind: 'failed', error: new ProtocolError(`${this.name}: a hole on a stream that is not sparse`) };
      try {
        return { kind: 'hole', length: Number(readStreamHole(p.payload).length) };
      } catch (err) {
        return { kind: 'failed', error: new ProtocolError(`${this.name}: malformed stream hole`, { cause: err }) };
      }
    }
    if (status === MessageStatus.OK) return { kind: 'finished' };
    if (p.payload.length === 0) return { kind: 'end' };
    return { kind: 'data', data: p.payload };
  }

  /** Sends data, one packet per STREAM_DATA_MAX bytes, waiting for the socket to drain as needed. */
  async sendData(data: Uint8Array): Promise<void> {
    for (let off = 0; off < data.length; off += STREAM_DATA_MAX) {
      const ok = this.send(MessageType.STREAM, MessageStatus.CONTINUE, data.subarray(off, off + STREAM_DATA_MAX));
      if (!ok) await this.drained();
    }
  }

  async sendHole(length: number): Promise<void> {
    if (!Number.isSafeInteger(length) || length < 0)
      throw new RangeError(`${this.name}: a hole's length must be a safe integer ≥ 0, not ${length}`);
    if (length === 0) return;
    if (!this.send(MessageType.STREAM_HOLE, MessageStatus.CONTINUE, undefined, length)) await this.drained();
  }

  /** The finish request (an empty STREAM OK); libvirtd's answer arrives as a 'finished' or 'failed' event. */
  finish(): void {
    this.send(MessageType.STREAM, MessageStatus.OK);
  }

  /** Tells libvirtd to abandon the stream (an empty STREAM ERROR) and closes the channel. */
  abort(): void {
    if (!this.closed) this.send(MessageType.STREAM, MessageStatus.ERROR);
    this.close();
  }

  pauseReading(holder: StreamSink): void {
    if (!this.closed) this.conn.pauseReading(holder);
  }

  resumeReading(holder: StreamSink): void {
    this.conn.resumeReading(holder);
  }

  /** Unbinds the serial; a write waiting for the socket to drain fails with `reason`. */
  close(reason: Error = new ProtocolError(`${this.name}: the stream is closed`)): void {
    if (this.closed) return;
    this.closed = true;
    this.offDrain();
    if (this.serial >= 0) this.conn.closeStream(this.serial);
    for (const w of this.drainWaiters) w.reject(reason);
    this.drainWaiters.clear();
  }

  private send(type: number, status: number, data?: Uint8Array, hole?: number): boolean {
    if (this.closed) throw new ProtocolError(`${this.name}: the stream is closed`);
    const header = { procedure: this.procedure, type, status, serial: this.serial };
    if (hole !== undefined) return this.conn.sendStream(header, undefined, (w) => writeStreamHole(w, { length: BigInt(hole), flags: 0 }));
    return this.conn.sendStream(header, data ?? EMPTY);
  }

  private drained(): Promise<void> {
    if (this.closed) return Promise.reject(new ProtocolError(`${this.name}: the stream is closed`));
    return new Promise((resolve, reject) => this.drainWaiters.add({ resolve, reject }));
  }

  private wake(): void {
    for (const w of this.drainWaiters) w.resolve();
    this.drainWaiters.clear();
  }
}

const EMPTY = Buffer.alloc(0);
