// XDR (RFC 4506) encoder: a growable big-endian buffer.
//
// Why a writer per message instead of a shared module-level one (pg-protocol does that): a
// throw half-way through encoding would otherwise leave garbage for the next caller. A writer
// is cheap; allocate one per packet.
//
// `reserve` lets the packet layer leave room for the length word and header and fill them once
// the payload size is known (see packet.ts), so a packet is built in one buffer with no copy.

import { XdrEncodeError } from '../errors.js';

const INITIAL_SIZE = 256;
const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const UINT32_MAX = 0xffff_ffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** Bytes of zero padding that follow `len` bytes of opaque data. */
export function xdrPad(len: number): number {
  return (4 - (len % 4)) % 4;
}

export class XdrWriter {
  private buf: Buffer;
  private off = 0;

  constructor(initialSize = INITIAL_SIZE) {
    this.buf = Buffer.alloc(initialSize);
  }

  get length(): number {
    return this.off;
  }

  private ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.off + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }

  /** Skips `n` zero bytes and returns their offset, to be filled with patchUint32 later. */
  reserve(n: number): number {
    this.ensure(n);
    const at = this.off;
    this.off += n;
    return at;
  }

  patchUint32(at: number, v: number): void {
    this.buf.writeUInt32BE(v, at);
  }

  int(v: number, what = 'int'): this {
    if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
      throw new XdrEncodeError(`${what}: ${v} is not a 32-bit signed integer`);
    }
    this.ensure(4);
    this.buf.writeInt32BE(v, this.off);
    this.off += 4;
    return this;
  }

  uint(v: number, what = 'unsigned int'): this {
    if (!Number.isInteger(v) || v < 0 || v > UINT32_MAX) {
      throw new XdrEncodeError(`${what}: ${v} is not a 32-bit unsigned integer`);
    }
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.off);
    this.off += 4;
    return this;
  }

  /** Accepts a bigint, or a safe integer number for convenience. */
  hyper(v: bigint | number, what = 'hyper'): this {
    const b = toBigInt(v, what);
    if (b < INT64_MIN || b > INT64_MAX) throw new XdrEncodeError(`${what}: ${v} is out of 64-bit signed range`);
    this.ensure(8);
    this.buf.writeBigInt64BE(b, this.off);
    this.off += 8;
    return this;
  }

  uhyper(v: bigint | number, what = 'unsigned hyper'): this {
    const b = toBigInt(v, what);
    if (b < 0n || b > UINT64_MAX) throw new XdrEncodeError(`${what}: ${v} is out of 64-bit unsigned range`);
    this.ensure(8);
    this.buf.writeBigUInt64BE(b, this.off);
    this.off += 8;
    return this;
  }

  double(v: number, what = 'double'): this {
    if (typeof v !== 'number') throw new XdrEncodeError(`${what}: expected a number`);
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.off);
    this.off += 8;
    return this;
  }

  bool(v: boolean, what = 'bool'): this {
    if (typeof v !== 'boolean') throw new XdrEncodeError(`${what}: expected a boolean`);
    return this.int(v ? 1 : 0);
  }

  /** Fixed-length opaque: exactly `len` bytes, then padding. */
  fixedOpaque(v: Uint8Array, len: number, what = 'opaque'): this {
    if (!(v instanceof Uint8Array)) throw new XdrEncodeError(`${what}: expected bytes`);
    if (v.length !== len) throw new XdrEncodeError(`${what}: expected ${len} bytes, got ${v.length}`);
    this.raw(v);
    return this.zeros(xdrPad(len));
  }

  /** Variable-length opaque: uint length, bytes, padding. */
  varOpaque(v: Uint8Array, max = UINT32_MAX, what = 'opaque'): this {
    if (!(v instanceof Uint8Array)) throw new XdrEncodeError(`${what}: expected bytes`);
    if (v.length > max) throw new XdrEncodeError(`${what}: ${v.length} bytes exceeds the limit ${max}`);
    this.uint(v.length);
    this.raw(v);
    return this.zeros(xdrPad(v.length));
  }

  /** XDR string: length-prefixed UTF-8, padded. The limit counts bytes, as libvirt does. */
  string(v: string, max = UINT32_MAX, what = 'string'): this {
    if (typeof v !== 'string') throw new XdrEncodeError(`${what}: expected a string, got ${typeof v}`);
    return this.varOpaque(Buffer.from(v, 'utf8'), max, what);
  }

  /** Optional data (`T *x` in XDR): a boolean, then the value when present. */
  optional<T>(v: T | null | undefined, enc: (w: XdrWriter, v: T) => void): this {
    if (v === null || v === undefined) return this.uint(0);
    this.uint(1);
    enc(this, v);
    return this;
  }

  /** Fixed-length array (`T x[N]`): exactly N elements, no length word. */
  fixedArray<T>(v: readonly T[], n: number, enc: (w: XdrWriter, v: T) => void, what = 'array'): this {
    if (!Array.isArray(v) || v.length !== n) throw new XdrEncodeError(`${what}: expected ${n} elements`);
    for (const x of v) enc(this, x);
    return this;
  }

  /** Variable-length array (`T x<MAX>`): uint count, then the elements. */
  varArray<T>(v: readonly T[], max: number, enc: (w: XdrWriter, v: T) => void, what = 'array'): this {
    if (!Array.isArray(v)) throw new XdrEncodeError(`${what}: expected an array`);
    if (v.length > max) throw new XdrEncodeError(`${what}: ${v.length} elements exceeds the limit ${max}`);
    this.uint(v.length);
    for (const x of v) enc(this, x);
    return this;
  }

  raw(v: Uint8Array): this {
    this.ensure(v.length);
    this.buf.set(v, this.off);
    this.off += v.length;
    return this;
  }

  private zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.off, this.off + n);
    this.off += n;
    return this;
  }

  /** The bytes written so far (a view; the writer must not be reused afterwards). */
  finish(): Buffer {
    return this.buf.subarray(0, this.off);
  }
}

function toBigInt(v: bigint | number, what: string): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isSafeInteger(v)) throw new XdrEncodeError(`${what}: ${v} is not a safe integer; pass a bigint`);
  return BigInt(v);
}
