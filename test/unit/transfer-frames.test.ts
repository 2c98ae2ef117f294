// The transfer's frames (agent/transfer/frames.ts): each encoder against a hand-annotated fixture,
// and the decoder fed the same bytes whole, split at every offset, byte by byte and in random
// pieces, plus every way a frame can be malformed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTransferError } from '../../agent/transfer/errors.js';
import { TransferFrameDecoder } from '../../agent/transfer/frame-decoder.js';
import {
  MAX_DATA_LENGTH,
  encodeAbort,
  encodeAccept,
  encodeAck,
  encodeDataHeader,
  encodeEnd,
  encodeHello,
  encodeHole,
  encodeVolume,
  type Frame,
} from '../../agent/transfer/frames.js';
import { hex } from '../support/libvirt-fixtures.js';

const TOKEN = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const SHA = Buffer.alloc(32, 0xab);

const fixtures = {
  hello: hex(`
    00000027   // length 39 = type + 38-byte body
    01         // HELLO
    46584652   // "FXFR"
    0001       // version 1
    000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f  // token
  `),
  accept: hex('00000001 02'),
  volume: hex(`
    0000000c           // length 12 = type + 8 (size) + 3 (id)
    03                 // VOLUME
    0000000040000000   // size 1 GiB
    766461             // "vda"
  `),
  data: hex('00000004 04 616263'), // DATA "abc"
  hole: hex(`
    00000009           // length 9
    05                 // HOLE
    0000000000100000   // 1 MiB
  `),
  end: hex(`
    00000031           // length 49 = type + 32 + 8 + 8
    06                 // END
    ${'ab'.repeat(32)} // SHA-256
    0000000000000003   // data bytes 3
    0000000000100000   // hole bytes 1 MiB
  `),
  ack: hex(`
    00000035           // length 53 = type + 1 + 32 + 8 + 8 + 3
    07                 // ACK
    01                 // verdict: checksum differs
    ${'ab'.repeat(32)}
    0000000000000003
    0000000000100000
    766461             // "vda"
  `),
  abort: hex('00000003 08 6e6f'), // ABORT "no"
};

const expectedFrames: Frame[] = [
  { type: 'hello', version: 1, token: TOKEN },
  { type: 'accept' },
  { type: 'volume', id: 'vda', size: 1 << 30 },
  { type: 'data', data: Buffer.from('abc') },
  { type: 'hole', length: 1 << 20 },
  { type: 'end', sha256: SHA, dataBytes: 3, holeBytes: 1 << 20 },
  { type: 'ack', id: 'vda', verdict: 'checksum-differs', sha256: SHA, dataBytes: 3, holeBytes: 1 << 20 },
  { type: 'abort', reason: 'no' },
];
const allBytes = Buffer.concat(Object.values(fixtures));

/** Frames with their bytes as hex, copied out of the decoder's buffers as they come. */
function normal(frames: Frame[]): Array<Record<string, unknown>> {
  return frames.map((f) =>
    Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v])),
  );
}

function decodeToHex(chunks: Buffer[]): Array<Record<string, unknown>> {
  const decoder = new TransferFrameDecoder();
  const out: Array<Record<string, unknown>> = [];
  for (const chunk of chunks) decoder.push(chunk, (f) => out.push(...normal([f])));
  decoder.end();
  assert.equal(decoder.buffered, 0);
  return out;
}

describe('transfer frames: encoders', () => {
  it('write the bytes of the annotated fixtures', () => {
    assert.deepEqual(encodeHello(TOKEN), fixtures.hello);
    assert.deepEqual(encodeAccept(), fixtures.accept);
    assert.deepEqual(encodeVolume('vda', 1 << 30), fixtures.volume);
    assert.deepEqual(Buffer.concat([encodeDataHeader(3), Buffer.from('abc')]), fixtures.data);
    assert.deepEqual(encodeHole(1 << 20), fixtures.hole);
    assert.deepEqual(encodeEnd({ sha256: SHA, dataBytes: 3, holeBytes: 1 << 20 }), fixtures.end);
    assert.deepEqual(encodeAck('vda', 'checksum-differs', { sha256: SHA, dataBytes: 3, holeBytes: 1 << 20 }), fixtures.ack);
    assert.deepEqual(encodeAbort('no'), fixtures.abort);
  });

  it('refuse what the format cannot carry', () => {
    assert.throws(() => encodeHello(Buffer.alloc(31)), RangeError);
    assert.throws(() => encodeVolume('', 1), RangeError);
    assert.throws(() => encodeVolume('x'.repeat(256), 1), RangeError);
    assert.throws(() => encodeVolume('vda', -1), RangeError);
    assert.throws(() => encodeVolume('vda', 2 ** 53), RangeError);
    assert.throws(() => encodeDataHeader(0), RangeError);
    assert.throws(() => encodeDataHeader(MAX_DATA_LENGTH + 1), RangeError);
    assert.throws(() => encodeHole(0), RangeError);
  });

  it('cut an ABORT reason longer than 1024 bytes at a character boundary', () => {
    const frame = encodeAbort('é'.repeat(1000)); // 2000 bytes of UTF-8
    assert.equal(frame.readUInt32BE(0), 1 + 1024);
    assert.equal(frame.subarray(5).toString('utf8'), 'é'.repeat(512));
  });
});

describe('transfer frames: decoder', () => {
  it('reads every frame from one chunk', () => {
    assert.deepEqual(decodeToHex([allBytes]), normal(expectedFrames));
  });

  it('reads the same frames split at every offset', () => {
    for (let at = 0; at <= allBytes.length; at++) {
      assert.deepEqual(decodeToHex([allBytes.subarray(0, at), allBytes.subarray(at)]), normal(expectedFrames), `split at ${at}`);
    }
  });

  it('reads the same frames byte by byte and in random pieces', () => {
    assert.deepEqual(decodeToHex([...allBytes].map((b) => Buffer.from([b]))), normal(expectedFrames));
    let seed = 7;
    for (let round = 0; round < 200; round++) {
      const pieces: Buffer[] = [];
      for (let at = 0; at < allBytes.length; ) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const n = 1 + (seed % 40);
        pieces.push(allBytes.subarray(at, at + n));
        at += n;
      }
      assert.deepEqual(decodeToHex(pieces), normal(expectedFrames), `round ${round}`);
    }
  });

  it('gathers a 256 KiB DATA frame from 16 KiB pieces, and slices a whole one without copying', () => {
    const payload = Buffer.alloc(MAX_DATA_LENGTH);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const wire = Buffer.concat([encodeDataHeader(payload.length), payload]);
    const pieces: Buffer[] = [];
    for (let at = 0; at < wire.length; at += 16384) pieces.push(wire.subarray(at, at + 16384));
    assert.deepEqual(decodeToHex(pieces), [{ type: 'data', data: payload.toString('hex') }]);

    const whole: Frame[] = [];
    new TransferFrameDecoder().push(wire, (f) => whole.push(f));
    const data = (whole[0] as { data: Buffer }).data;
    assert.equal(data.buffer, wire.buffer, 'a frame whole in its chunk is a view of that chunk');
    assert.equal(data.byteOffset, wire.byteOffset + 5);
  });

  it('does not change a frame it handed out when later chunks arrive', () => {
    const first = Buffer.concat([encodeDataHeader(3), Buffer.from('abc')]);
    const second = Buffer.concat([encodeDataHeader(3), Buffer.from('xyz')]);
    const wire = Buffer.concat([first, second]);
    const decoder = new TransferFrameDecoder();
    const seen: Buffer[] = [];
    decoder.push(wire.subarray(0, 10), (f) => seen.push((f as { data: Buffer }).data));
    decoder.push(wire.subarray(10), (f) => seen.push((f as { data: Buffer }).data));
    assert.deepEqual(
      seen.map((b) => b.toString()),
      ['abc', 'xyz'],
    );
  });

  const malformed: Array<[string, Buffer, RegExp]> = [
    ['an unknown type', hex('00000001 09'), /unknown frame type 0x09/],
    ['a DATA over 256 KiB', hex('00040002 04'), /body of 262145 bytes \(allowed 1\.\.262144\)/],
    ['an empty DATA', hex('00000001 04'), /body of 0 bytes/],
    ['a length of 0', hex('00000000 04'), /body of -1 bytes/],
    ['a HOLE of 0 bytes', hex('00000009 05 0000000000000000'), /HOLE of 0 bytes/],
    ['a HELLO without the magic', Buffer.concat([hex('00000027 01 46584651 0001'), TOKEN]), /magic/],
    ['a size beyond 2^53', hex('00000009 05 0020000000000001'), /beyond 2\^53/],
    [
      'an ACK with verdict 3',
      Buffer.concat([hex('00000033 07 03'), SHA, hex('0000000000000000 0000000000000000 76')]),
      /unknown verdict 3/,
    ],
    ['an ACCEPT with a body', hex('00000002 02 00'), /body of 1 bytes \(allowed 0\.\.0\)/],
  ];
  for (const [what, bytes, message] of malformed) {
    it(`fails on ${what}, and stays failed`, () => {
      const decoder = new TransferFrameDecoder();
      const err = (() => {
        try {
          decoder.push(bytes, () => assert.fail('no frame expected'));
        } catch (e) {
          return e;
        }
        return assert.fail('no error');
      })();
      assert.ok(isTransferError(err, 'protocol'), String(err));
      assert.match((err as Error).message, message);
      assert.throws(
        () => decoder.push(fixtures.accept, () => undefined),
        (e) => e === err,
      );
    });
  }

  it('fails at the end of the stream inside a frame', () => {
    const decoder = new TransferFrameDecoder();
    decoder.push(fixtures.volume.subarray(0, 7), () => assert.fail('no frame expected'));
    assert.throws(
      () => decoder.end(),
      (e) => isTransferError(e, 'protocol') && /ended inside a frame \(7 bytes/.test(e.message),
    );
  });
});
