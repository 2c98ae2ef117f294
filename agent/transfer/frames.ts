// The transfer protocol's frames: how a cold migration's volumes travel from the source agent to
// the destination agent on one TLS connection (agent/transfer/README.md has the whole exchange).
//
// Every frame is a 4-byte big-endian length (of what follows it: the type byte and the body), a
// type byte, then the body. Integers are big-endian; sizes are unsigned 64-bit.
//
//   type  name    direction       body
//   0x01  HELLO   source → dest   "FXFR", version u16 (1), token (32 bytes, from PrepareIncoming)
//   0x02  ACCEPT  dest → source   empty: the token matched, this connection is the transfer
//   0x03  VOLUME  source → dest   logical size u64, the volume's id (UTF-8, 1..255 bytes, the
//                                 destination's name for it)
//   0x04  DATA    source → dest   1..262144 bytes of the volume, in order
//   0x05  HOLE    source → dest   length u64 (> 0): that many zero bytes, never sent as data
//   0x06  END     source → dest   the checksum (32 bytes) of the volume's logical content, holes
//                                 as zeros (volume-chunks.ts: the SHA-256 of its 1 MiB blocks'
//                                 SHA-256s), data bytes u64, hole bytes u64
//   0x07  ACK     dest → source   verdict u8 (0 verified, 1 checksum differs, 2 size differs), the
//                                 destination's checksum (32), data bytes u64, hole bytes u64, the id
//   0x08  ABORT   either way      why, UTF-8 (0..1024 bytes); the sender of it closes next
//
// A connection is HELLO, ACCEPT, then per volume VOLUME, DATA/HOLE frames, END; the destination
// answers each END with an ACK once its sink has taken every byte, so a source may send the next
// volume before the previous ACK arrives.

/** The frame types on the wire. */
export const FrameType = {
  HELLO: 0x01,
  ACCEPT: 0x02,
  VOLUME: 0x03,
  DATA: 0x04,
  HOLE: 0x05,
  END: 0x06,
  ACK: 0x07,
  ABORT: 0x08,
} as const;

/** Bytes before a frame's body: the length word and the type byte. */
export const FRAME_HEADER_LENGTH = 5;
/** The most data one DATA frame carries: libvirt's stream packets (262120 bytes) fit in one. */
export const MAX_DATA_LENGTH = 256 * 1024;
export const TOKEN_LENGTH = 32;
export const SHA256_LENGTH = 32;
export const MAX_VOLUME_ID_LENGTH = 255;
export const MAX_REASON_LENGTH = 1024;
export const PROTOCOL_MAGIC = 'FXFR';
export const PROTOCOL_VERSION = 1;

export type AckVerdict = 'verified' | 'checksum-differs' | 'size-differs';
const VERDICT_CODES: Readonly<Record<AckVerdict, number>> = { verified: 0, 'checksum-differs': 1, 'size-differs': 2 };
export const VERDICTS: readonly AckVerdict[] = ['verified', 'checksum-differs', 'size-differs'];

/** What a volume's bytes added up to: the END and ACK frames carry it. */
export interface VolumeDigest {
  sha256: Buffer;
  dataBytes: number;
  holeBytes: number;
}

export type Frame =
  | { type: 'hello'; version: number; token: Buffer }
  | { type: 'accept' }
  | { type: 'volume'; id: string; size: number }
  | { type: 'data'; data: Buffer }
  | { type: 'hole'; length: number }
  | ({ type: 'end' } & VolumeDigest)
  | ({ type: 'ack'; id: string; verdict: AckVerdict } & VolumeDigest)
  | { type: 'abort'; reason: string };

function frame(type: number, bodyLength: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + bodyLength);
  b.writeUInt32BE(1 + bodyLength, 0);
  b.writeUInt8(type, 4);
  return b;
}

function writeSize(b: Buffer, value: number, at: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a safe integer ≥ 0, not ${value}`);
  b.writeBigUInt64BE(BigInt(value), at);
}

function utf8(text: string, min: number, max: number, what: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length < min || bytes.length > max) throw new RangeError(`${what} must be ${min}..${max} bytes of UTF-8, not ${bytes.length}`);
  return bytes;
}

export function encodeHello(token: Buffer): Buffer {
  if (token.length !== TOKEN_LENGTH) throw new RangeError(`a transfer token is ${TOKEN_LENGTH} bytes, not ${token.length}`);
  const b = frame(FrameType.HELLO, 6 + TOKEN_LENGTH);
  b.write(PROTOCOL_MAGIC, 5, 'latin1');
  b.writeUInt16BE(PROTOCOL_VERSION, 9);
  token.copy(b, 11);
  return b;
}

export function encodeAccept(): Buffer {
  return frame(FrameType.ACCEPT, 0);
}

export function encodeVolume(id: string, size: number): Buffer {
  const name = utf8(id, 1, MAX_VOLUME_ID_LENGTH, 'a volume id');
  const b = frame(FrameType.VOLUME, 8 + name.length);
  writeSize(b, size, 5, 'a volume size');
  name.copy(b, 13);
  return b;
}

/** Only the header: the data follows it as it is (no copy of up to 256 KiB per frame). */
export function encodeDataHeader(length: number): Buffer {
  if (!Number.isInteger(length) || length < 1 || length > MAX_DATA_LENGTH) {
    throw new RangeError(`a DATA frame carries 1..${MAX_DATA_LENGTH} bytes, not ${length}`);
  }
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
  b.writeUInt32BE(1 + length, 0);
  b.writeUInt8(FrameType.DATA, 4);
  return b;
}

export function encodeHole(length: number): Buffer {
  if (length <= 0) throw new RangeError(`a hole is longer than 0 bytes, not ${length}`);
  const b = frame(FrameType.HOLE, 8);
  writeSize(b, length, 5, 'a hole length');
  return b;
}

function writeDigest(b: Buffer, digest: VolumeDigest, at: number): void {
  if (digest.sha256.length !== SHA256_LENGTH) throw new RangeError(`a SHA-256 is ${SHA256_LENGTH} bytes, not ${digest.sha256.length}`);
  digest.sha256.copy(b, at);
  writeSize(b, digest.dataBytes, at + 32, 'data bytes');
  writeSize(b, digest.holeBytes, at + 40, 'hole bytes');
}

export function encodeEnd(digest: VolumeDigest): Buffer {
  const b = frame(FrameType.END, 48);
  writeDigest(b, digest, 5);
  return b;
}

export function encodeAck(id: string, verdict: AckVerdict, digest: VolumeDigest): Buffer {
  const name = utf8(id, 1, MAX_VOLUME_ID_LENGTH, 'a volume id');
  const b = frame(FrameType.ACK, 49 + name.length);
  b.writeUInt8(VERDICT_CODES[verdict], 5);
  writeDigest(b, digest, 6);
  name.copy(b, 54);
  return b;
}

/** A reason too long for the frame is cut (at a character boundary), not refused: it is already a failure. */
export function encodeAbort(reason: string): Buffer {
  let text = reason.slice(0, MAX_REASON_LENGTH);
  while (Buffer.byteLength(text, 'utf8') > MAX_REASON_LENGTH) text = text.slice(0, -1);
  const bytes = Buffer.from(text, 'utf8');
  const b = frame(FrameType.ABORT, bytes.length);
  bytes.copy(b, 5);
  return b;
}
