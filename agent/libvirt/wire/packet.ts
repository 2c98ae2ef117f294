// libvirt RPC packets: a 4-byte length word, a 24-byte header, then the XDR payload.
//
// Layout and constants are libvirt's src/rpc/virnetprotocol.x (9.0.0):
//   unsigned len          total packet size INCLUDING this length word
//   unsigned prog         program (REMOTE_PROGRAM 0x20008086, KEEPALIVE_PROGRAM 0x6b656570)
//   unsigned vers         program version (1 for both)
//   int      proc         procedure number within the program
//   enum     type         virNetMessageType
//   unsigned serial       matches a reply to its call
//   enum     status       virNetMessageStatus
// These few numbers are stable ABI and hand-written here, with the source named, because this
// layer must know nothing about procedures (the generated codecs live one layer up).

import { XdrWriter } from './xdr-writer.js';
import { XdrReader } from './xdr-reader.js';

/** Bytes in the length word (counted in the length itself). */
export const LEN_LENGTH = 4;
/** Bytes in the serialized virNetMessageHeader. */
export const HEADER_LENGTH = 24;
/** Smallest legal packet: length word + header, no payload. */
export const MIN_PACKET = LEN_LENGTH + HEADER_LENGTH;
/** VIR_NET_MESSAGE_MAX: the largest packet libvirt sends (the length word is not counted). */
export const MAX_MESSAGE = 33_554_432;

/**
 * VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX: the most stream data libvirtd puts in one packet
 * (daemonStreamHandleRead in src/remote/remote_daemon_stream.c reads this much per packet). Its
 * own client accepts up to VIR_NET_MESSAGE_MAX, but every libvirt back to 0.9 accepts this size,
 * and sending what the daemon sends keeps one packet's latency and copy small.
 */
export const STREAM_DATA_MAX = 262_120;

// REMOTE_PROGRAM and REMOTE_PROTOCOL_VERSION come from remote_protocol.x (generated/remote_protocol.gen.ts).
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const KEEPALIVE_PROTOCOL_VERSION = 1;
export const KEEPALIVE_PROC_PING = 1;
export const KEEPALIVE_PROC_PONG = 2;

/** virNetMessageType */
export const MessageType = {
  CALL: 0,
  REPLY: 1,
  MESSAGE: 2,
  STREAM: 3,
  CALL_WITH_FDS: 4,
  REPLY_WITH_FDS: 5,
  STREAM_HOLE: 6,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** virNetMessageStatus */
export const MessageStatus = {
  OK: 0,
  ERROR: 1,
  CONTINUE: 2,
} as const;
export type MessageStatus = (typeof MessageStatus)[keyof typeof MessageStatus];

export interface PacketHeader {
  program: number;
  version: number;
  procedure: number;
  type: number;
  serial: number;
  status: number;
}

export interface Packet {
  header: PacketHeader;
  /** The XDR payload after the header (a view into the received bytes). */
  payload: Buffer;
}

/**
 * Builds one packet in a single buffer: the length word and header are reserved up front and
 * the length is filled in once the body is written (pg-protocol's "flush" habit).
 */
export function encodePacket(header: PacketHeader, writeBody?: (w: XdrWriter) => void): Buffer {
  const w = new XdrWriter(256);
  const lenAt = w.reserve(LEN_LENGTH);
  w.uint(header.program).uint(header.version).int(header.procedure).int(header.type).uint(header.serial).int(header.status);
  writeBody?.(w);
  w.patchUint32(lenAt, w.length);
  return w.finish();
}

/**
 * The header of a VIR_NET_STREAM data packet of `dataLength` bytes. The bytes follow as they are
 * (raw, not XDR opaque: no length word and no padding, as virNetMessageEncodePayloadRaw in
 * src/rpc/virnetmessage.c writes them), so a caller writes them after this header without copying
 * them into a packet of their own.
 */
export function encodeStreamDataHeader(header: PacketHeader, dataLength: number): Buffer {
  const b = Buffer.allocUnsafe(MIN_PACKET);
  b.writeUInt32BE(MIN_PACKET + dataLength, 0);
  b.writeUInt32BE(header.program, 4);
  b.writeUInt32BE(header.version, 8);
  b.writeInt32BE(header.procedure, 12);
  b.writeInt32BE(header.type, 16);
  b.writeUInt32BE(header.serial, 20);
  b.writeInt32BE(header.status, 24);
  return b;
}

/** Parses a complete packet (length word included) whose length was already validated. */
export function decodePacket(packet: Buffer): Packet {
  const r = new XdrReader(packet, LEN_LENGTH, LEN_LENGTH + HEADER_LENGTH);
  const header: PacketHeader = {
    program: r.uint('header.program'),
    version: r.uint('header.version'),
    procedure: r.int('header.procedure'),
    type: r.int('header.type'),
    serial: r.uint('header.serial'),
    status: r.int('header.status'),
  };
  return { header, payload: packet.subarray(MIN_PACKET) };
}

/** virNetStreamHole, the payload of a VIR_NET_STREAM_HOLE packet: `hyper length; unsigned int flags;`. */
export interface StreamHolePayload {
  length: bigint;
  flags: number;
}

export function writeStreamHole(w: XdrWriter, hole: StreamHolePayload): void {
  w.hyper(hole.length, 'virNetStreamHole.length').uint(hole.flags, 'virNetStreamHole.flags');
}

export function readStreamHole(payload: Buffer): StreamHolePayload {
  const r = new XdrReader(payload);
  const hole = { length: r.hyper('virNetStreamHole.length'), flags: r.uint('virNetStreamHole.flags') };
  r.expectEnd('virNetStreamHole');
  return hole;
}
