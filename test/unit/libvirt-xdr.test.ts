// XDR primitives and generated codecs: round-trips for every type, and serializer output
// compared with bytes written out by hand (field-annotated hex), not produced by our writer.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XdrDecodeError, XdrEncodeError } from '../../agent/libvirt/errors.js';
import {
  decodeRemoteDomainMigratePerform3ParamsArgs,
  decodeRemoteNonnullDomain,
  decodeRemoteTypedParam,
  encodeRemoteDomainMigratePerform3ParamsArgs,
  encodeRemoteNonnullDomain,
  encodeRemoteTypedParam,
  type RemoteTypedParam,
} from '../../agent/libvirt/generated/remote_protocol.gen.js';
import { XdrReader } from '../../agent/libvirt/wire/xdr-reader.js';
import { XdrWriter } from '../../agent/libvirt/wire/xdr-writer.js';
import { hex } from '../support/libvirt-fixtures.js';

function bytes(f: (w: XdrWriter) => void): Buffer {
  const w = new XdrWriter(4);
  f(w);
  return Buffer.from(w.finish());
}

describe('XDR primitives', () => {
  const cases: Array<[string, (w: XdrWriter) => void, (r: XdrReader) => unknown, unknown, string]> = [
    ['int -1', (w) => w.int(-1), (r) => r.int(), -1, 'ffffffff'],
    ['int min', (w) => w.int(-0x80000000), (r) => r.int(), -0x80000000, '80000000'],
    ['int max', (w) => w.int(0x7fffffff), (r) => r.int(), 0x7fffffff, '7fffffff'],
    ['uint max', (w) => w.uint(0xffffffff), (r) => r.uint(), 0xffffffff, 'ffffffff'],
    ['uint 0x20008086', (w) => w.uint(0x20008086), (r) => r.uint(), 0x20008086, '20008086'],
    ['hyper -2', (w) => w.hyper(-2n), (r) => r.hyper(), -2n, 'ffffffff fffffffe'],
    ['hyper min', (w) => w.hyper(-(1n << 63n)), (r) => r.hyper(), -(1n << 63n), '80000000 00000000'],
    ['uhyper max', (w) => w.uhyper((1n << 64n) - 1n), (r) => r.uhyper(), (1n << 64n) - 1n, 'ffffffff ffffffff'],
    ['uhyper 2^32+1', (w) => w.uhyper(4294967297n), (r) => r.uhyper(), 4294967297n, '00000001 00000001'],
    ['double 1.5', (w) => w.double(1.5), (r) => r.double(), 1.5, '3ff80000 00000000'],
    ['double -0.1', (w) => w.double(-0.1), (r) => r.double(), -0.1, 'bfb99999 9999999a'],
    ['bool true', (w) => w.bool(true), (r) => r.bool(), true, '00000001'],
    ['bool false', (w) => w.bool(false), (r) => r.bool(), false, '00000000'],
    ['string "abc" (1 byte pad)', (w) => w.string('abc'), (r) => r.string(), 'abc', '00000003 61626300'],
    ['string "" (no data)', (w) => w.string(''), (r) => r.string(), '', '00000000'],
    ['string "abcd" (no pad)', (w) => w.string('abcd'), (r) => r.string(), 'abcd', '00000004 61626364'],
    ['string UTF-8 "é" (2 bytes)', (w) => w.string('é'), (r) => r.string(), 'é', '00000002 c3a90000'],
    [
      'fixed opaque[5]',
      (w) => w.fixedOpaque(Buffer.from('0102030405', 'hex'), 5),
      (r) => r.fixedOpaque(5),
      Buffer.from('0102030405', 'hex'),
      '01020304 05000000',
    ],
    [
      'var opaque<> 2 bytes',
      (w) => w.varOpaque(Buffer.from('aabb', 'hex')),
      (r) => r.varOpaque(),
      Buffer.from('aabb', 'hex'),
      '00000002 aabb0000',
    ],
    ['optional absent', (w) => w.optional<string>(null, (w2, v) => w2.string(v)), (r) => r.optional((r2) => r2.string()), null, '00000000'],
    [
      'optional present',
      (w) => w.optional('x', (w2, v) => w2.string(v)),
      (r) => r.optional((r2) => r2.string()),
      'x',
      '00000001 00000001 78000000',
    ],
    [
      'fixed array int[2]',
      (w) => w.fixedArray([1, 2], 2, (w2, v) => w2.int(v)),
      (r) => r.fixedArray(2, (r2) => r2.int()),
      [1, 2],
      '00000001 00000002',
    ],
    [
      'var array int<>',
      (w) => w.varArray([7, -7], 10, (w2, v) => w2.int(v)),
      (r) => r.varArray(10, (r2) => r2.int()),
      [7, -7],
      '00000002 00000007 fffffff9',
    ],
  ];
  for (const [name, enc, dec, value, expected] of cases) {
    it(`${name}: encodes to known bytes and decodes back`, () => {
      const b = bytes(enc);
      assert.equal(b.toString('hex'), hex(expected).toString('hex'));
      const r = new XdrReader(b);
      assert.deepEqual(dec(r), value);
      assert.equal(r.remaining, 0);
    });
    it(`${name}: every truncation is an XdrDecodeError`, () => {
      const b = bytes(enc);
      for (let n = 0; n < b.length; n++) {
        assert.throws(() => dec(new XdrReader(b.subarray(0, n))), XdrDecodeError, `truncated to ${n} bytes`);
      }
    });
  }

  it('rejects out-of-range and mistyped values with XdrEncodeError', () => {
    const w = new XdrWriter();
    assert.throws(() => w.int(2 ** 31), XdrEncodeError);
    assert.throws(() => w.int(1.5), XdrEncodeError);
    assert.throws(() => w.uint(-1), XdrEncodeError);
    assert.throws(() => w.hyper(1n << 63n), XdrEncodeError);
    assert.throws(() => w.uhyper(-1n), XdrEncodeError);
    assert.throws(() => w.uhyper(2 ** 60), XdrEncodeError, 'unsafe number must be a bigint');
    assert.throws(() => w.string('abcd', 3), XdrEncodeError);
    assert.throws(() => w.fixedOpaque(Buffer.alloc(3), 4), XdrEncodeError);
    assert.throws(() => w.varArray([1, 2, 3], 2, (w2, v) => w2.int(v)), XdrEncodeError);
    assert.throws(() => w.string(42 as unknown as string), XdrEncodeError);
  });

  it('enforces declared limits and valid booleans when decoding', () => {
    assert.throws(() => new XdrReader(hex('00000005 6162636465000000')).string(4), /exceeds the limit 4/);
    assert.throws(() => new XdrReader(hex('00000003')).varArray(2, (r) => r.int()), /exceeds the limit 2/);
    assert.throws(() => new XdrReader(hex('00000002')).bool(), /invalid boolean 2/);
    // A huge declared length must fail before any allocation.
    assert.throws(() => new XdrReader(hex('7fffffff')).varOpaque(), XdrDecodeError);
  });

  it('grows its buffer across many writes', () => {
    const w = new XdrWriter(1);
    for (let i = 0; i < 1000; i++) w.uint(i);
    const r = new XdrReader(w.finish());
    for (let i = 0; i < 1000; i++) assert.equal(r.uint(), i);
  });
});

describe('generated codecs', () => {
  const dom = { name: 'vm1', uuid: Buffer.from('00112233445566778899aabbccddeeff', 'hex'), id: 7 };
  const domHex = `
    00000003 766d3100                          // name: len 3, "vm1" + 1 pad
    00112233 44556677 8899aabb ccddeeff        // uuid: opaque[16], no length word
    00000007                                   // id
  `;

  it('remote_nonnull_domain matches hand-built bytes', () => {
    const b = bytes((w) => encodeRemoteNonnullDomain(w, dom));
    assert.equal(b.toString('hex'), hex(domHex).toString('hex'));
    assert.deepEqual(decodeRemoteNonnullDomain(new XdrReader(b)), dom);
  });

  const params: Array<[RemoteTypedParam, string]> = [
    [{ field: 'i', value: { type: 1, i: -5 } }, '00000001 69000000  00000001  fffffffb'],
    [{ field: 'ui', value: { type: 2, ui: 4000000000 } }, '00000002 75690000  00000002  ee6b2800'],
    [{ field: 'l', value: { type: 3, l: -3n } }, '00000001 6c000000  00000003  ffffffff fffffffd'],
    [{ field: 'ul', value: { type: 4, ul: 1n << 40n } }, '00000002 756c0000  00000004  00000100 00000000'],
    [{ field: 'd', value: { type: 5, d: 0.5 } }, '00000001 64000000  00000005  3fe00000 00000000'],
    [{ field: 'b', value: { type: 6, b: 1 } }, '00000001 62000000  00000006  00000001'],
    [{ field: 's', value: { type: 7, s: 'tcp://x' } }, '00000001 73000000  00000007  00000007 7463703a 2f2f7800'],
  ];
  for (const [p, h] of params) {
    it(`remote_typed_param type ${p.value.type} (${p.field}): field, discriminant, value`, () => {
      const b = bytes((w) => encodeRemoteTypedParam(w, p));
      assert.equal(b.toString('hex'), hex(h).toString('hex'));
      assert.deepEqual(decodeRemoteTypedParam(new XdrReader(b)), p);
    });
  }

  it('rejects an unknown typed-param discriminant both ways', () => {
    assert.throws(() => decodeRemoteTypedParam(new XdrReader(hex('00000001 78000000 00000009 00000000'))), /unknown type 9/);
    assert.throws(() => bytes((w) => encodeRemoteTypedParam(w, { field: 'x', value: { type: 9 } as never })), XdrEncodeError);
  });

  it('DOMAIN_MIGRATE_PERFORM3_PARAMS args match an annotated fixture', () => {
    const args = {
      dom,
      dconnuri: 'qemu+tcp://198.18.0.2/system',
      params: [
        { field: 'migrate_uri', value: { type: 7 as const, s: 'tcp://198.19.0.2:49152' } },
        { field: 'bandwidth', value: { type: 4 as const, ul: 100n } },
      ],
      cookie_in: Buffer.alloc(0),
      flags: 3,
    };
    const expected = hex(`
      ${domHex}
      00000001                                   // dconnuri: optional present
      0000001c 71656d75 2b746370 3a2f2f31 39382e31 382e302e 322f7379 7374656d  // 28 bytes, no pad
      00000002                                   // params: 2 entries
        0000000b 6d696772 6174655f 75726900      //   field "migrate_uri" (11) + 1 pad
        00000007                                 //   type STRING
        00000016 7463703a 2f2f3139 382e3139 2e302e32 3a343931 35320000 // "tcp://198.19.0.2:49152" (22) + 2 pad
        00000009 62616e64 77696474 68000000      //   field "bandwidth" (9) + 3 pad
        00000004 00000000 00000064               //   type ULLONG, 100
      00000000                                   // cookie_in: empty opaque
      00000003                                   // flags LIVE|PEER2PEER
    `);
    const b = bytes((w) => encodeRemoteDomainMigratePerform3ParamsArgs(w, args));
    assert.equal(b.toString('hex'), expected.toString('hex'));
    assert.deepEqual(decodeRemoteDomainMigratePerform3ParamsArgs(new XdrReader(b)), args);
  });
});
