// XDR (RFC 4506) decoder: a cursor over one packet's payload.
//
// Every read checks the remaining length first and throws XdrDecodeError naming what was being
// read, so a truncated or malicious packet becomes a typed error rather than a RangeError from
// deep inside Buffer (or, worse, a silently wrong value). Limits declared in the protocol
// (`string<MAX>`, `T x<MAX>`) are enforced before allocating, as libvirt's own decoder does.

import { XdrDecodeError } from '../errors.js';
import { xdrPad } from './xdr-writer.js';

export class XdrReader {
  private off: number;
  private readonly end: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.off = start;
    this.end = end;
  }

  get offset(): number {
    return this.off;
  }

  get remaining(): number {
    return this.end - this.off;
  }

  private need(n: number, what: string): void {
    if (this.end - this.off < n) {
      throw new XdrDecodeError(`${what}: need ${n} bytes at offset ${this.off}, only ${this.end - this.off} left`);
    }
  }

  int(what = 'int'): number {
    this.need(4, what);
    const v = this.buf.readInt32BE(this.off);
    this.off += 4;
    return v;
  }

  uint(what = 'unsigned int'): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  hyper(what = 'hyper'): bigint {
    this.need(8, what);
    const v = this.buf.readBigInt64BE(this.off);
    this.off += 8;
    return v;
  }

  uhyper(what = 'unsigned hyper'): bigint {
    this.need(8, what);
    const v = this.buf.readBigUInt64BE(this.off);
    this.off += 8;
    return v;
  }

  double(what = 'double'): number {
    this.need(8, what);
    const v = this.buf.readDoubleBE(this.off);
    this.off += 8;
    return v;
  }

  /** XDR booleans are 0 or 1; anything else means we lost alignment. */
  bool(what = 'bool'): boolean {
    const v = this.int(what);
    if (v !== 0 && v !== 1) throw new XdrDecodeError(`${what}: invalid boolean ${v}`);
    return v === 1;
  }

  /** Returns a copy, so the packet buffer can be released (see frame-decoder.ts). */
  fixedOpaque(len: number, what = 'opaque'): Buffer {
    this.need(len + xdrPad(len), what);
    const v = Buffer.from(this.buf.subarray(this.off, this.off + len));
    this.off += len + xdrPad(len);
    return v;
  }

  varOpaque(max = 0xffff_ffff, what = 'opaque'): Buffer {
    const len = this.uint(`${what} length`);
    if (len > max) throw new XdrDecodeError(`${what}: length ${len} exceeds the limit ${max}`);
    return this.fixedOpaque(len, what);
  }

  string(max = 0xffff_ffff, what = 'string'): string {
    const len = this.uint(`${what} length`);
    if (len > max) throw new XdrDecodeError(`${what}: length ${len} exceeds the limit ${max}`);
    this.need(len + xdrPad(len), what);
    const v = this.buf.toString('utf8', this.off, this.off + len);
    this.off += len + xdrPad(len);
    return v;
  }

  optional<T>(dec: (r: XdrReader) => T, what = 'optional'): T | null {
    return this.bool(`${what} presence`) ? dec(this) : null;
  }

  /** Array length with its limit checked before anything is allocated. */
  arrayLength(max: number, what = 'array'): number {
    const n = this.uint(`${what} length`);
    if (n > max) throw new XdrDecodeError(`${what}: ${n} elements exceeds the limit ${max}`);
    return n;
  }

  fixedArray<T>(n: number, dec: (r: XdrReader) => T): T[] {
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(dec(this));
    return out;
  }

  varArray<T>(max: number, dec: (r: XdrReader) => T, what = 'array'): T[] {
    return this.fixedArray(this.arrayLength(max, what), dec);
  }

  /** Callers decoding a whole reply use this to catch layout mismatches early. */
  expectEnd(what: string): void {
    if (this.off !== this.end) {
      throw new XdrDecodeError(`${what}: ${this.end - this.off} unexpected trailing bytes`);
    }
  }
}
