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
import { encodePacket, MessageStatus, MessageType, type Packet, type PacketHeader } from '../wire/packet.js';
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

interface Pending {
  procedure: string;
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
}

const procedureNames = new Map<number, string>(Object.entries(RemoteProcedure).map(([k, v]) => [v, k]));
export function procedureName(n: number): string {
  return procedureNames.get(n) ?? `PROC_${n}`;
}

export class Connection {
  readonly address: string;
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private readonly closeListeners = new Set<(reason: Error) => void>();
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
    if (!def.decodeRet) return undefined as R;
    const r = new XdrReader(payload);
    const ret = def.decodeRet(r);
    r.expectEnd(`${def.name} reply`);
    return ret;
  }

  /** Sends a CALL and resolves with the raw reply payload. */
  callRaw(procedure: number, name: string, writeArgs?: (w: XdrWriter) => void, opts: CallOptions = {}): Promise<Buffer> {
    if (this.endReason) return Promise.reject(new ClosedError(this.address));
    const serial = this.allocSerial();
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
    if (h.type !== MessageType.REPLY) return; // streams aren't used by this client
    const call = this.pending.get(h.serial);
    if (!call) return; // reply to a call that timed out or was aborted
    if (h.status === MessageStatus.OK) {
      call.resolve(p.payload);
    } else if (h.status === MessageStatus.ERROR) {
      call.reject(this.decodeError(call.procedure, p.payload));
    } else {
      call.reject(new ProtocolError(`${call.procedure}: unexpected reply status ${h.status}`));
    }
  }

  private decodeError(procedure: string, payload: Buffer): Error {
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

  private end(reason: Error): void {
    if (this.endReason) return;
    this.endReason = reason;
    // Each reject removes its own entry (see settle), so iterate over a copy.
    const calls = [...this.pending.values()];
    for (const c of calls) c.reject(new InterruptedError(c.procedure, this.address, { cause: reason }));
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
