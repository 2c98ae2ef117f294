// A scriptable fake libvirtd for unit tests: speaks the real packet framing over a unix socket,
// answers the handshake, and lets a test decide per procedure whether to reply, fail, hang
// (never answer) or drop the connection. It can also push event MESSAGEs and raw garbage, and
// play libvirtd's end of a stream (openStream: send data, holes, the end, confirmations, errors;
// see what the client sent).
// It uses the library's own framing and generated codecs for convenience; the unit tests that
// check those codecs build their expected bytes independently.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeRemoteAuthListRet,
  encodeRemoteConnectDomainEventCallbackRegisterAnyRet,
  encodeRemoteConnectGetLibVersionRet,
  encodeRemoteConnectSupportsFeatureRet,
  encodeRemoteError,
  RemoteProcedure,
  type RemoteProcedureName,
} from '../../agent/libvirt/generated/remote_protocol.gen.js';
import { unixDialer } from '../../agent/libvirt/rpc/dialers/unix.js';
import type { Dialer } from '../../agent/libvirt/rpc/dialers/dialer.js';
import { FrameDecoder } from '../../agent/libvirt/wire/frame-decoder.js';
import {
  encodePacket,
  encodeStreamDataHeader,
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  MessageStatus,
  MessageType,
  writeStreamHole,
  type Packet,
  type PacketHeader,
} from '../../agent/libvirt/wire/packet.js';
import { REMOTE_PROGRAM } from '../../agent/libvirt/generated/remote_protocol.gen.js';
import { XdrReader } from '../../agent/libvirt/wire/xdr-reader.js';
import type { XdrWriter } from '../../agent/libvirt/wire/xdr-writer.js';
import { sleep } from './wait.js';

export interface MockErrorReply {
  code: number;
  domain?: number;
  message: string;
  level?: number;
}

/** What a handler wants done with a call; undefined answers OK with an empty body. */
export type MockReply =
  | undefined
  | { body: (w: XdrWriter) => void; delayMs?: number }
  | { error: MockErrorReply }
  | { hang: true }
  | { drop: true };

export interface MockCall {
  procedure: number;
  name: string;
  serial: number;
  args: XdrReader;
  socket: Socket;
}
export type MockHandler = (call: MockCall) => MockReply | Promise<MockReply>;

const names = new Map<number, string>(Object.entries(RemoteProcedure).map(([k, v]) => [v, k]));

/** libvirtd's end of one stream: what it sends, and the packets the client sent on it (copied). */
export class MockStream {
  readonly received: Packet[] = [];
  /** Called for each packet the client sends on the stream (e.g. to confirm a finish). */
  onPacket: ((p: Packet) => void) | null = null;
  private readonly waiters = new Set<() => void>();
  private collecting: Buffer[] | null = null;

  constructor(
    readonly socket: Socket,
    readonly serial: number,
    private readonly procedure: number,
  ) {}

  /** Writes one packet; returns socket.write's answer (false: the client is not reading). */
  send(type: number, status: number, body?: Buffer | ((w: XdrWriter) => void)): boolean {
    if (this.socket.destroyed) return false;
    const h = { program: REMOTE_PROGRAM, version: 1, procedure: this.procedure, type, serial: this.serial, status };
    const bytes = Buffer.isBuffer(body) ? Buffer.concat([encodeStreamDataHeader(h, body.length), body]) : encodePacket(h, body);
    if (this.collecting) return this.collecting.push(bytes) > 0;
    return this.socket.write(bytes);
  }
  /** Sends what `fn` sends as one byte stream cut into `sliceBytes` writes, so packets straddle socket chunks. */
  sliced(sliceBytes: number, fn: () => void): void {
    this.collecting = [];
    try {
      fn();
    } finally {
      const all = Buffer.concat(this.collecting);
      this.collecting = null;
      for (let off = 0; off < all.length; off += sliceBytes) this.socket.write(all.subarray(off, off + sliceBytes));
    }
  }
  data(bytes: Buffer): boolean {
    return this.send(MessageType.STREAM, MessageStatus.CONTINUE, bytes);
  }
  hole(length: number): boolean {
    return this.send(MessageType.STREAM_HOLE, MessageStatus.CONTINUE, (w) => writeStreamHole(w, { length: BigInt(length), flags: 0 }));
  }
  /** libvirtd's end of data: an empty CONTINUE packet. */
  end(): boolean {
    return this.send(MessageType.STREAM, MessageStatus.CONTINUE, Buffer.alloc(0));
  }
  /** The answer to the client's finish: an empty STREAM OK. */
  confirm(): boolean {
    return this.send(MessageType.STREAM, MessageStatus.OK);
  }
  /** A failure, as a STREAM (or REPLY) packet with status ERROR and a remote_error. */
  error(e: MockErrorReply, type: number = MessageType.STREAM): boolean {
    return this.send(type, MessageStatus.ERROR, (w) => encodeRemoteError(w, errorStruct(e)));
  }
  /** Confirms the client's finish (its empty STREAM OK) as libvirtd does. */
  confirmFinish(): this {
    this.onPacket = (p) => {
      if (p.header.type === MessageType.STREAM && p.header.status === MessageStatus.OK) this.confirm();
    };
    return this;
  }
  /** Resolves once a received packet matches. */
  async waitFor(match: (p: Packet) => boolean, timeoutMs = 2_000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`stream ${this.serial}: no matching packet within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.waiters.add(resolve);
        setTimeout(resolve, 20);
      });
    }
  }

  /** The mock's router hands the stream its packets here. */
  receive(p: Packet): void {
    const copy = { header: { ...p.header }, payload: Buffer.from(p.payload) };
    this.received.push(copy);
    this.onPacket?.(copy);
    for (const w of this.waiters) w();
    this.waiters.clear();
  }
}

export class MockLibvirtd {
  readonly path: string;
  /** Every packet header received, in order (keepalive included). */
  readonly received: PacketHeader[] = [];
  readonly sockets = new Set<Socket>();
  answerKeepalive = true;
  private readonly handlers = new Map<number, MockHandler>();
  private readonly streams = new Map<Socket, Map<number, MockStream>>();
  private nextCallbackId = 1;

  private constructor(
    private readonly server: Server,
    private readonly dir: string,
  ) {
    this.path = join(dir, 'libvirt-sock');
    this.on('CONNECT_SUPPORTS_FEATURE', () => ({ body: (w) => encodeRemoteConnectSupportsFeatureRet(w, { supported: 1 }) }));
    this.on('AUTH_LIST', () => ({ body: (w) => encodeRemoteAuthListRet(w, { types: [0] }) }));
    this.on('CONNECT_OPEN', () => undefined);
    this.on('CONNECT_CLOSE', () => undefined);
    this.on('CONNECT_GET_LIB_VERSION', () => ({ body: (w) => encodeRemoteConnectGetLibVersionRet(w, { lib_ver: 9_000_000n }) }));
    this.on('CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY', () => {
      const callbackID = this.nextCallbackId++;
      return { body: (w) => encodeRemoteConnectDomainEventCallbackRegisterAnyRet(w, { callbackID }) };
    });
    this.on('CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY', () => undefined);
  }

  static async start(): Promise<MockLibvirtd> {
    const dir = mkdtempSync(join(tmpdir(), 'mock-libvirtd-'));
    const server = createServer();
    const mock = new MockLibvirtd(server, dir);
    server.on('connection', (s) => mock.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(mock.path, () => resolve());
    });
    return mock;
  }

  dialer(): Dialer {
    return unixDialer(this.path, { timeoutMs: 2_000 });
  }

  /** Replaces the handler for a procedure. */
  on(name: RemoteProcedureName, handler: MockHandler): this {
    this.handlers.set(RemoteProcedure[name], handler);
    return this;
  }

  /** Makes a call a stream (as libvirtd does for STORAGE_VOL_DOWNLOAD…): its packets then go to the MockStream. */
  openStream(call: MockCall): MockStream {
    const stream = new MockStream(call.socket, call.serial, call.procedure);
    const bySerial = this.streams.get(call.socket) ?? new Map<number, MockStream>();
    this.streams.set(call.socket, bySerial);
    bySerial.set(call.serial, stream);
    return stream;
  }

  /** Pushes an event MESSAGE (REMOTE_PROGRAM) to every connected client. */
  sendEvent(procedure: number, body: (w: XdrWriter) => void): void {
    const pkt = encodePacket(
      { program: REMOTE_PROGRAM, version: 1, procedure, type: MessageType.MESSAGE, serial: 0, status: MessageStatus.OK },
      body,
    );
    for (const s of this.sockets) s.write(pkt);
  }

  /** Sends a keepalive PING to every client. */
  ping(): void {
    const pkt = encodePacket({
      program: KEEPALIVE_PROGRAM,
      version: 1,
      procedure: KEEPALIVE_PROC_PING,
      type: MessageType.MESSAGE,
      serial: 0,
      status: MessageStatus.OK,
    });
    for (const s of this.sockets) s.write(pkt);
  }

  sendRaw(bytes: Buffer): void {
    for (const s of this.sockets) s.write(bytes);
  }

  /** Kills every client connection (as if the daemon died). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  count(name: RemoteProcedureName): number {
    const n = RemoteProcedure[name];
    return this.received.filter((h) => h.program === REMOTE_PROGRAM && h.procedure === n).length;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.streams.delete(socket);
    });
    socket.on('error', () => {});
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (p) => {
          this.received.push(p.header);
          if (p.header.program === KEEPALIVE_PROGRAM) {
            if (p.header.procedure === KEEPALIVE_PROC_PING && this.answerKeepalive) {
              socket.write(encodePacket({ ...p.header, procedure: KEEPALIVE_PROC_PONG }));
            }
            return;
          }
          if (p.header.type === MessageType.STREAM || p.header.type === MessageType.STREAM_HOLE) {
            this.streams.get(socket)?.get(p.header.serial)?.receive(p);
            return;
          }
          void this.dispatch(socket, p.header, p.payload);
        });
      } catch {
        socket.destroy();
      }
    });
  }

  private async dispatch(socket: Socket, h: PacketHeader, payload: Buffer): Promise<void> {
    const handler = this.handlers.get(h.procedure);
    const reply = (status: number, body?: (w: XdrWriter) => void): void => {
      if (!socket.destroyed) socket.write(encodePacket({ ...h, type: MessageType.REPLY, status }, body));
    };
    if (!handler) {
      reply(MessageStatus.ERROR, (w) =>
        encodeRemoteError(
          w,
          errorStruct({ code: 3, domain: 0, message: `this function is not supported by the mock: ${names.get(h.procedure)}` }),
        ),
      );
      return;
    }
    const r = await handler({
      procedure: h.procedure,
      name: names.get(h.procedure) ?? String(h.procedure),
      serial: h.serial,
      args: new XdrReader(payload),
      socket,
    });
    if (!r) return reply(MessageStatus.OK);
    if ('hang' in r) return;
    if ('drop' in r) {
      socket.destroy();
      return;
    }
    if ('error' in r) return reply(MessageStatus.ERROR, (w) => encodeRemoteError(w, errorStruct(r.error)));
    if (r.delayMs) await sleep(r.delayMs);
    reply(MessageStatus.OK, r.body);
  }
}

function errorStruct(e: MockErrorReply) {
  return {
    code: e.code,
    domain: e.domain ?? 10,
    message: e.message,
    level: e.level ?? 2,
    dom: null,
    str1: null,
    str2: null,
    str3: null,
    int1: 0,
    int2: 0,
    net: null,
  };
}
