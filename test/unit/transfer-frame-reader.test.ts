// Reading frames off a transfer connection (agent/transfer/frame-reader.ts), over a PassThrough
// standing in for the TLS socket (the reader uses only its Readable side): frames in order however
// the bytes are cut, the socket paused while more than a frame's worth waits and resumed as the
// frames are read, and the end, a cut frame, a framing error and a destroyed socket told apart.

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { isTransferError } from '../../agent/transfer/errors.js';
import { FrameReader, QUEUED_LIMIT } from '../../agent/transfer/frame-reader.js';
import { MAX_DATA_LENGTH, encodeAccept, encodeDataHeader, encodeHole } from '../../agent/transfer/frames.js';
import { hex } from '../support/libvirt-fixtures.js';

function pair(): { socket: PassThrough; reader: FrameReader } {
  const socket = new PassThrough();
  return { socket, reader: new FrameReader(socket as unknown as TLSSocket) };
}

const dataFrame = (n: number, fill: number) => Buffer.concat([encodeDataHeader(n), Buffer.alloc(n, fill)]);
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('transfer frame reader', () => {
  it('gives the frames in order, cut anywhere, then the end', async () => {
    const { socket, reader } = pair();
    const wire = Buffer.concat([encodeAccept(), dataFrame(40_000, 7), encodeHole(4096)]);
    for (let at = 0; at < wire.length; at += 16_384) socket.write(wire.subarray(at, at + 16_384));
    socket.end();
    const accept = await reader.next();
    assert.deepEqual(accept, { value: { type: 'accept' }, done: false });
    const data = await reader.next();
    assert.equal(data.value?.type, 'data');
    assert.deepEqual((data.value as { data: Buffer }).data, Buffer.alloc(40_000, 7));
    assert.deepEqual(await reader.next(), { value: { type: 'hole', length: 4096 }, done: false });
    assert.deepEqual(await reader.next(), { value: undefined, done: true });
  });

  it('pauses the socket once more than QUEUED_LIMIT of data waits, and resumes it as frames are read', async () => {
    const { socket, reader } = pair();
    const frames = QUEUED_LIMIT / MAX_DATA_LENGTH;
    for (let i = 0; i < frames; i++) socket.write(dataFrame(MAX_DATA_LENGTH, i));
    await tick();
    assert.equal(socket.isPaused(), false, `not paused with ${frames} frames (the limit) unread`);
    socket.write(dataFrame(MAX_DATA_LENGTH, frames));
    await tick();
    assert.equal(socket.isPaused(), true, 'paused with one frame more');
    assert.equal((await reader.next()).value?.type, 'data');
    assert.equal(socket.isPaused(), false, 'resumed once the limit or less waits');
    for (let i = 1; i < frames; i++) await reader.next();
    const last = await reader.next();
    assert.deepEqual((last.value as { data: Buffer }).data, Buffer.alloc(MAX_DATA_LENGTH, frames));
  });

  it('gives the frames before a framing error, then the error', async () => {
    const { socket, reader } = pair();
    socket.write(Buffer.concat([encodeAccept(), hex('00000001 09')]));
    assert.deepEqual(await reader.next(), { value: { type: 'accept' }, done: false });
    await assert.rejects(reader.next(), (err) => isTransferError(err, 'protocol') && /unknown frame type 0x09/.test(err.message));
  });

  it('fails when the connection ends inside a frame', async () => {
    const { socket, reader } = pair();
    socket.end(dataFrame(100, 1).subarray(0, 50));
    await assert.rejects(reader.next(), (err) => isTransferError(err, 'protocol') && /ended inside a frame/.test(err.message));
  });

  it('fails with the error of a socket destroyed instead of ended', async () => {
    const { socket, reader } = pair();
    socket.on('error', () => undefined);
    const pending = reader.next();
    socket.destroy(new Error('reset by peer'));
    await assert.rejects(pending, /reset by peer/);
  });
});
