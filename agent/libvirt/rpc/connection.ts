// One libvirt RPC connection: serials, the pending-call table, reply/error matching and routing
// of unsolicited packets. It knows packets and procedure descriptors, not what procedures mean.
//
// Invariants (why this file looks the way it does):
// - No caller hangs. A call is registered before its bytes are written; it settles exactly once:
//   reply, remote error, its own timeout, or the connection ending. When the connection ends
//   for ANY reason (daemon killed, EOF, framing error, keepalive death, close()) every pending
//   call is rejected at once with InterruptedError (cause = the reason). Nothing is replayed.
// - A framing error means the stream is unusable: destroy it. A payload that fails to decode
//   (framing intact) only fails that one call.
// - Unknown serials (e.g. the reply to a call that already timed out) are dropped, not fatal.
// - A stream (stream.ts) is bound to the serial of the call that opened it, before that call is
//   sent: libvirtd may queue stream data ahead of the call's reply. Its STREAM/STREAM_HOLE
//   packets, and REPLY packets for its serial once the call is answered (libvirtd reports some
//   stream failures as a REPLY with status ERROR), go to it. When the connection ends, every
//   stream learns it with InterruptedError, as pending calls do.
// - Reading can be paused by a stream whose consumer is slow (see stream-incoming.ts for why the
//   whole socket): pauses are counted per holder, and the socket reads again when none is left.

import type { Socket } from 'node:net';
import { CallTimeoutError, ClosedError, ConnectionError, InterruptedError, LibvirtError, ProtocolError } from '../errors.js';
import {
  decodeRemoteError,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  RemoteProcedure,
  type ProcedureDef,
} from '../generated/remote_protocol.gen.js';
import { FrameDecoder } from '../wire/frame-decoder.js';
import { encodePacket, encodeStreamDataHeader, MessageStatus, MessageType, type Packet, type PacketHeader } from '../wire/packet.js';
import { XdrReader } from '../wire/xdr-reader.js';
import type { XdrWriter } from '../wire/xdr-writer.js';

export interface CallOptions {
  /** Reject with CallTimeoutError after this long; undefined/0/Infinity = no deadline. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ConnectionOptions {
  /** Names the peer in errors (the dialer's address). */
  address: string;
  /** REMOTE_PROGRAM MESSAGE packets (events), by procedure number. Must not throw. */
  onEvent?: (procedure: number, payload: Buffer) => void;
  /** Packets of other programs (keepalive). Must not throw. */
  onOtherProgram?: (packet: Packet) => void;
  maxPacket?: number;
}

/** The receiving end of one stream, bound to its call's serial. */
export interface StreamSink {
  /** A packet for the stream's serial (see the invariants above). Must not throw. */
  onStreamPacket(p: Packet): void;
  /** The connection ended; `err` is an InterruptedError. Must not throw. */
  onStreamInterrupted(err: Error): void;
}

interface Pending {
  procedure: string;
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
}

const procedureNames = new Map<number, string>(Object.entries(RemoteProcedure).map(([k, v]) => [v, k]));
export function procedureName(n: number): string {
  return procedureNames.get(n) ?? `PROC_${n}`;
}

function decodeReply<A, R>(def: ProcedureDef<A, R>, payload: Buffer): R {
  if (!def.decodeRet) return undefined as R;
  const r = new XdrReader(payload);
  const ret = def.decodeRet(r);
  r.expectEnd(`${def.name} reply`);
  return ret;
}

/** A remote_error payload (a REPLY or STREAM packet with status ERROR) as a LibvirtError. */
export function decodeLibvirtError(procedure: string, payload: Buffer): Error {
  try {
    const e = decodeRemoteError(new XdrReader(payload));
    return new LibvirtError(e.code, e.domain, e.message ?? `libvirt error ${e.code}`, e.level, procedure, {
      str1: e.str1,
      str2: e.str2,
      str3: e.str3,
      int1: e.int1,
      int2: e.int2,
    });
  } catch (err) {
    return new ProtocolError(`${procedure}: undecodable error reply`, { cause: err });
  }
}

export class Connection {
  readonly address: string;
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private readonly closeListeners = new Set<(reason: Error) => void>();
  private readonly streams = new Map<number, { name: string; sink: StreamSink }>();
  private readonly readPausers = new Set<object>();
  private nextSerial = 1;
  private endReason: Error | null = null;
  /** Monotonic ms of the last packet received (keepalive uses it). */
  lastReceived = performance.now();

  constructor(
    socket: Socket,
    private readonly opts: ConnectionOptions,
  ) {
    this.address = opts.address;
    this.socket = socket;
    this.decoder = new FrameDecoder(opts.maxPacket);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.end(new ConnectionError(this.address, `socket error: ${err.message}`, { cause: err })));
    socket.on('close', () => this.end(new ConnectionError(this.address, 'connection closed by the daemon')));
    // A half-closed socket is useless to us: the daemon never half-closes deliberately.
    socket.on('end', () => this.end(new ConnectionError(this.address, 'connection closed by the daemon (EOF)')));
  }

  get isOpen(): boolean {
    return this.endReason === null;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Why the connection ended, or null while it is open. */
  get closedReason(): Error | null {
    return this.endReason;
  }

  /** Called once when the connection ends, with the reason. Returns an unsubscribe function. */
  onClose(fn: (reason: Error) => void): () => void {
    if (this.endReason) {
      const reason = this.endReason;
      queueMicrotask(() => fn(reason));
      return () => {};
    }
    this.closeListeners.add(fn);
    return () => this.closeListeners.delete(fn);
  }

  /** Makes one REMOTE_PROGRAM call and decodes its reply with the descriptor's codec. */
  async call<A, R>(def: ProcedureDef<A, R>, args: A, opts: CallOptions = {}): Promise<R> {
    const encodeArgs = def.encodeArgs;
    const payload = await this.callRaw(def.number, def.name, encodeArgs ? (w) => encodeArgs(w, args) : undefined, opts);
    return decodeReply(def, payload);
  }

  /**
   * Makes a call that opens a stream (STORAGE_VOL_DOWNLOAD…): the sink `bind` returns for the
   * call's serial receives its packets from before the call is sent, and after the reply until
   * closeStream. If the call fails, the sink is unbound and the call's error is thrown.
   */
  async callOpeningStream<A>(
    def: ProcedureDef<A, unknown>,
    args: A,
    bind: (serial: number) => StreamSink,
    opts: CallOptions = {},
  ): Promise<void> {
    if (this.endReason) throw new ClosedError(this.address);
    const encodeArgs = def.encodeArgs;
    const serial = this.allocSerial();
    this.streams.set(serial, { name: def.name, sink: bind(serial) });
    try {
      await this.callWithSerial(serial, def.number, def.name, encodeArgs ? (w) => encodeArgs(w, args) : undefined, opts);
    } catch (err) {
      this.closeStream(serial);
      throw err;
    }
  }

  /** Unbinds a stream's serial (later packets for it are dropped) and lifts its read pause. */
  closeStream(serial: number): void {
    const s = this.streams.get(serial);
    this.streams.delete(serial);
    if (s) this.resumeReading(s.sink);
  }

  /**
   * Sends one stream packet for `serial` (data when `data` is given, else the body `writeBody`
   * writes). Returns false when the socket's buffer is full: wait for onDrain before the next
   * one, so a slow daemon never makes us buffer without bound. Dropped once closed. Data goes
   * out as given, after its header in the same writev, not copied into a packet: a volume upload
   * would otherwise allocate and copy each of its bytes once more, and the garbage collector
   * then works in proportion. The caller leaves `data` unchanged until the socket has it.
   */
  sendStream(header: Omit<PacketHeader, 'program' | 'version'>, data?: Uint8Array, writeBody?: (w: XdrWriter) => void): boolean {
    if (this.endReason) return false;
    const h = { program: REMOTE_PROGRAM, version: REMOTE_PROTOCOL_VERSION, ...header };
    if (!data) return this.socket.write(encodePacket(h, writeBody));
    this.socket.cork();
    this.socket.write(encodeStreamDataHeader(h, data.length));
    const room = this.socket.write(data);
    this.socket.uncork();
    return room;
  }

  /** Calls fn each time the socket's write buffer has drained. Returns an unsubscribe function. */
  onDrain(fn: () => void): () => void {
    this.socket.on('drain', fn);
    return () => this.socket.off('drain', fn);
  }

  /** Stops reading from the socket until every holder that paused it has resumed. */
  pauseReading(holder: object): void {
    if (this.endReason || this.readPausers.has(holder)) return;
    this.readPausers.add(holder);
    if (this.readPausers.size === 1) this.socket.pause();
  }

  resumeReading(holder: object): void {
    if (!this.readPausers.delete(holder)) return;
    if (this.readPausers.size === 0 && !this.endReason) this.socket.resume();
  }

  /** True while a stream holds reading paused (keepalive then pings instead of judging silence). */
  get readingPaused(): boolean {
    return this.readPausers.size > 0;
  }

  /** Sends a CALL and resolves with the raw reply payload. */
  callRaw(procedure: number, name: string, writeArgs?: (w: XdrWriter) => void, opts: CallOptions = {}): Promise<Buffer> {
    if (this.endReason) return Promise.reject(new ClosedError(this.address));
    return this.callWithSerial(this.allocSerial(), procedure, name, writeArgs, opts);
  }

  private callWithSerial(
    serial: number,
    procedure: number,
    name: string,
    writeArgs?: (w: XdrWriter) => void,
    opts: CallOptions = {},
  ): Promise<Buffer> {
    if (this.endReason) return Promise.reject(new ClosedError(this.address));
    // Encode before registering: bad input rejects with XdrEncodeError and nothing is sent.
    let packet: Buffer;
    try {
      packet = encodePacket(
        { program: REMOTE_PROGRAM, version: REMOTE_PROTOCOL_VERSION, procedure, type: MessageType.CALL, serial, status: MessageStatus.OK },
        writeArgs,
      );
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void =>
        settle(() => reject(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error(`${name} aborted`)));
      const settle = (fn: () => void): void => {
        if (!this.pending.delete(serial)) return;
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      this.pending.set(serial, {
        procedure: name,
        resolve: (p) => settle(() => resolve(p)),
        reject: (e) => settle(() => reject(e)),
      });
      if (opts.timeoutMs && Number.isFinite(opts.timeoutMs)) {
        const ms = opts.timeoutMs;
        timer = setTimeout(() => settle(() => reject(new CallTimeoutError(name, ms))), ms);
      }
      if (opts.signal) {
        if (opts.signal.aborted) return onAbort();
        opts.signal.addEventListener('abort', onAbort, { once: true });
      }
      this.socket.write(packet);
    });
  }

  /** Sends a one-way packet (keepalive PING/PONG). Silently dropped once closed. */
  send(header: PacketHeader, writeBody?: (w: XdrWriter) => void): void {
    if (this.endReason) return;
    this.socket.write(encodePacket(header, writeBody));
  }

  /** Ends the connection: pending calls reject with InterruptedError (cause ClosedError). */
  close(): void {
    this.end(new ClosedError(this.address));
    this.socket.end();
  }

  /** Ends the connection immediately with `reason` (used for protocol and keepalive failures). */
  destroy(reason: Error): void {
    this.end(reason);
    this.socket.destroy();
  }

  private allocSerial(): number {
    const s = this.nextSerial;
    this.nextSerial = s >= 0xffff_ffff ? 1 : s + 1;
    return s;
  }

  private onData(chunk: Buffer): void {
    this.lastReceived = performance.now();
    try {
      this.decoder.push(chunk, (p) => this.route(p));
    } catch (err) {
      const reason = err instanceof ProtocolError ? err : new ProtocolError(`packet handling failed: ${String(err)}`, { cause: err });
      this.destroy(reason);
    }
  }

  private route(p: Packet): void {
    const h = p.header;
    if (h.program !== REMOTE_PROGRAM) {
      this.opts.onOtherProgram?.(p);
      return;
    }
    if (h.version !== REMOTE_PROTOCOL_VERSION) {
      throw new ProtocolError(`unexpected remote protocol version ${h.version}`);
    }
    if (h.type === MessageType.MESSAGE) {
      this.opts.onEvent?.(h.procedure, p.payload);
      return;
    }
    const call = h.type === MessageType.REPLY ? this.pending.get(h.serial) : undefined;
    if (!call) {
      if (h.type === MessageType.REPLY || h.type === MessageType.STREAM || h.type === MessageType.STREAM_HOLE) {
        this.streams.get(h.serial)?.sink.onStreamPacket(p);
      }
      return; // otherwise a reply to a call that timed out or was aborted, or a closed stream's packet
    }
    if (h.status === MessageStatus.OK) {
      call.resolve(p.payload);
    } else if (h.status === MessageStatus.ERROR) {
      call.reject(decodeLibvirtError(call.procedure, p.payload));
    } else {
      call.reject(new ProtocolError(`${call.procedure}: unexpected reply status ${h.status}`));
    }
  }

  private end(reason: Error): void {
    if (this.endReason) return;
    this.endReason = reason;
    // Each reject removes its own entry (see settle), so iterate over a copy.
    const calls = [...this.pending.values()];
    for (const c of calls) c.reject(new InterruptedError(c.procedure, this.address, { cause: reason }));
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.readPausers.clear();
    for (const s of streams) s.sink.onStreamInterrupted(new InterruptedError(s.name, this.address, { cause: reason }));
    for (const fn of this.closeListeners) {
      try {
        fn(reason);
      } catch {
        // A listener's failure must not stop the others from learning the connection ended.
      }
    }
    this.closeListeners.clear();
  }
}
