// Packet encoding and stream framing: header layout against a hand-annotated fixture, and the
// frame decoder fed the same bytes split at every possible offset (pg-protocol's habit).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../agent/libvirt/errors.js';
import { FrameDecoder } from '../../agent/libvirt/wire/frame-decoder.js';
import { decodePacket, encodePacket, MessageStatus, MessageType, type Packet } from '../../agent/libvirt/wire/packet.js';
import { hex } from '../support/libvirt-fixtures.js';

// CONNECT_GET_LIB_VERSION call (proc 157), serial 5, no arguments.
const callFixture = hex(`
  0000001c   // length 28 = 4 (this word) + 24 (header) + 0 payload
  20008086   // program REMOTE_PROGRAM
  00000001   // version 1
  0000009d   // procedure 157 CONNECT_GET_LIB_VERSION
  00000000   // type CALL
  00000005   // serial 5
  00000000   // status OK
`);
// Its reply: lib_ver = 9000000 (unsigned hyper).
const replyFixture = hex(`
  00000024   // length 36 = 28 + 8
  20008086 00000001 0000009d
  00000001   // type REPLY
  00000005   // serial 5
  00000000   // status OK
  00000000 00895440  // lib_ver 9000000
`);
// An event MESSAGE (proc 359, migration iteration) with a 4-byte body, and a keepalive PING.
const eventFixture = hex('00000020 20008086 00000001 00000167 00000002 00000000 00000000 0000002a');
const pingFixture = hex('0000001c 6b656570 00000001 00000001 00000002 00000000 00000000');

function collect(chunks: Buffer[]): Packet[] {
  const d = new FrameDecoder();
  const out: Packet[] = [];
  for (const c of chunks) d.push(c, (p) => out.push({ header: p.header, payload: Buffer.from(p.payload) }));
  assert.equal(d.buffered, 0, 'nothing left over');
  return out;
}

describe('packet encoding', () => {
  it('matches the annotated call fixture (length filled in on flush)', () => {
    const b = encodePacket({
      program: 0x20008086,
      version: 1,
      procedure: 157,
      type: MessageType.CALL,
      serial: 5,
      status: MessageStatus.OK,
    });
    assert.equal(b.toString('hex'), callFixture.toString('hex'));
  });

  it('counts the payload in the length word', () => {
    const b = encodePacket({ program: 0x20008086, version: 1, procedure: 157, type: MessageType.REPLY, serial: 5, status: 0 }, (w) =>
      w.uhyper(9_000_000n),
    );
    assert.equal(b.toString('hex'), replyFixture.toString('hex'));
  });

  it('decodes header fields and payload', () => {
    const p = decodePacket(replyFixture);
    assert.deepEqual(p.header, { program: 0x20008086, version: 1, procedure: 157, type: 1, serial: 5, status: 0 });
    assert.equal(p.payload.toString('hex'), '0000000000895440');
  });
});

describe('frame decoder', () => {
  const stream = Buffer.concat([callFixture, replyFixture, eventFixture, pingFixture]);
  const expected = collect([stream]);

  it('finds all four packets in one chunk', () => {
    assert.deepEqual(
      expected.map((p) => [p.header.program, p.header.procedure, p.header.type]),
      [
        [0x20008086, 157, 0],
        [0x20008086, 157, 1],
        [0x20008086, 359, 2],
        [0x6b656570, 1, 2],
      ],
    );
    assert.equal(expected[2]!.payload.toString('hex'), '0000002a');
  });

  it('gives the same packets when split at every byte boundary', () => {
    for (let i = 0; i <= stream.length; i++) {
      assert.deepEqual(collect([stream.subarray(0, i), stream.subarray(i)]), expected, `split at ${i}`);
    }
  });

  it('gives the same packets when split at every pair of boundaries', () => {
    for (let i = 0; i <= stream.length; i += 1) {
      for (let j = i; j <= stream.length; j += 3) {
        assert.deepEqual(collect([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]), expected, `split at ${i},${j}`);
      }
    }
  });

  it('gives the same packets when fed one byte at a time', () => {
    const chunks = [...stream].map((b) => Buffer.from([b]));
    assert.deepEqual(collect(chunks), expected);
  });

  it('reassembles a large packet from small chunks and keeps earlier packets intact', () => {
    const big = encodePacket({ program: 0x20008086, version: 1, procedure: 14, type: 1, serial: 9, status: 0 }, (w) =>
      w.string('x'.repeat(300_000)),
    );
    const all = Buffer.concat([replyFixture, big, replyFixture]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i += 65536) chunks.push(all.subarray(i, i + 65536));
    const d = new FrameDecoder();
    const got: Packet[] = [];
    for (const c of chunks) d.push(c, (p) => got.push(p)); // keep views, no copies
    assert.equal(got.length, 3);
    assert.equal(got[0]!.payload.toString('hex'), '0000000000895440', 'first packet not overwritten');
    assert.equal(got[1]!.payload.length, 4 + 300_000);
    assert.equal(got[2]!.header.serial, 5);
  });

  it('treats a length below the header size as a framing error, and stays failed', () => {
    const d = new FrameDecoder();
    assert.throws(() => d.push(hex('00000010 00000000 00000000 00000000'), () => {}), ProtocolError);
    assert.throws(() => d.push(callFixture, () => {}), /framing error/);
  });

  it('rejects a packet above the cap before buffering it', () => {
    const d = new FrameDecoder(1024);
    assert.throws(() => d.push(hex('00000401'), () => {}), /outside \[28, 1024\]/);
  });

  it('delivers complete packets that precede garbage', () => {
    const d = new FrameDecoder();
    const got: number[] = [];
    assert.throws(() => d.push(Buffer.concat([callFixture, hex('ffffffff')]), (p) => got.push(p.header.serial)), ProtocolError);
    assert.deepEqual(got, [5]);
  });
});
