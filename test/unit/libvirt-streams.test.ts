// Volume download and upload streams against the mock daemon: data across many packets and
// socket chunks, holes, the finish handshake in both directions, errors from the daemon, abort
// by the caller, a dropped connection, and back-pressure both ways (bounded buffers, a writer
// that waits). Packets the client sends are checked byte by byte against hand-built fixtures.

import assert from 'node:assert/strict';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  constants,
  InterruptedError,
  LibvirtClient,
  LibvirtError,
  ProtocolError,
  XdrEncodeError,
  type StorageVol,
} from '../../agent/libvirt/index.js';
import { decodeRemoteStorageVolDownloadArgs } from '../../agent/libvirt/generated/remote_protocol.gen.js';
import type { Packet } from '../../agent/libvirt/wire/packet.js';
import { hex } from '../support/libvirt-fixtures.js';
import { MockLibvirtd, type MockStream } from '../support/mock-libvirtd.js';
import { contentOf, receiveAll } from '../support/stream-chunks.js';
import { sleep } from '../support/wait.js';

const C = constants;
const VOL: StorageVol = { pool: 'default', name: 'disk.raw', key: '/var/lib/libvirt/images/disk.raw' };
const DOWNLOAD = 209; // REMOTE_PROC_STORAGE_VOL_DOWNLOAD
const UPLOAD = 208; // REMOTE_PROC_STORAGE_VOL_UPLOAD
const STREAM_DATA_MAX = 262_120; // VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX in virnetprotocol.x

/** A packet's bytes rebuilt from what the mock decoded, without the library's encoder. */
function bytesOf(p: Packet): Buffer {
  const head = Buffer.alloc(28);
  head.writeUInt32BE(28 + p.payload.length, 0);
  const h = p.header;
  for (const [i, v] of [h.program, h.version, h.procedure, h.type, h.serial, h.status].entries()) head.writeUInt32BE(v >>> 0, 4 + 4 * i);
  return Buffer.concat([head, p.payload]);
}
/** The fixture with the serial the call happened to get. */
function fixture(text: string, serial: number): string {
  const b = hex(text);
  b.writeUInt32BE(serial, 20);
  return b.toString('hex');
}
const isFinish = (p: Packet): boolean => p.header.type === 3 && p.header.status === 0;
const isAbort = (p: Packet): boolean => p.header.type === 3 && p.header.status === 1;

describe('libvirt volume streams over a mock daemon', () => {
  let mock: MockLibvirtd;
  let client: LibvirtClient;
  let stream: MockStream | null;
  let streamArgs: ReturnType<typeof decodeRemoteStorageVolDownloadArgs> | null;

  const serve = (name: 'STORAGE_VOL_DOWNLOAD' | 'STORAGE_VOL_UPLOAD', after?: (s: MockStream) => void): void => {
    mock.on(name, (call) => {
      streamArgs = decodeRemoteStorageVolDownloadArgs(call.args); // the upload's args have the same layout
      stream = mock.openStream(call);
      if (after) setImmediate(() => after(stream as MockStream));
      return undefined;
    });
  };
  const opened = (): MockStream => {
    assert.ok(stream, 'the mock opened the stream');
    return stream;
  };

  beforeEach(async () => {
    mock = await MockLibvirtd.start();
    client = await LibvirtClient.connect({ dialer: mock.dialer(), keepalive: false });
    stream = null;
    streamArgs = null;
  });
  afterEach(async () => {
    await client.close().catch(() => {});
    await mock.close();
  });

  it('downloads data split across many packets and socket chunks, and ends after the finish handshake', async () => {
    const sizes = [1, 3, 4, 5, 4093, STREAM_DATA_MAX, 70_000, 17, STREAM_DATA_MAX, 2];
    const parts = sizes.map((n, i) => Buffer.alloc(n, i + 1));
    serve('STORAGE_VOL_DOWNLOAD', (s) => {
      s.confirmFinish();
      s.sliced(4093, () => {
        for (const p of parts) s.data(p);
        s.end();
      });
    });
    const down = await client.storage.volDownload(VOL, { offset: 512, length: 1 << 20 }, 0);
    const got = await receiveAll(down);
    assert.deepEqual(streamArgs, { vol: VOL, offset: 512n, length: 1n << 20n, flags: 0 });
    assert.equal(got.holeBytes, 0);
    assert.ok(contentOf(got.chunks).equals(Buffer.concat(parts)));
    const finish = opened().received.find(isFinish);
    assert.ok(finish, 'the client sent its finish');
    assert.equal(
      bytesOf(finish).toString('hex'),
      fixture('0000001c 20008086 00000001 000000d1 00000003 00000000 00000000 // STREAM, serial, OK, no payload', finish.header.serial),
    );
    assert.equal(finish.header.procedure, DOWNLOAD);
  });

  it('yields holes as { hole } objects on a sparse download, and refuses one on a dense download', async () => {
    serve('STORAGE_VOL_DOWNLOAD', (s) => {
      s.confirmFinish();
      s.data(Buffer.from('head'));
      s.hole(3 * 1024 * 1024);
      s.data(Buffer.from('tail'));
      s.hole(5);
      s.end();
    });
    const got = await receiveAll(await client.storage.volDownload(VOL, {}, C.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM));
    assert.deepEqual(got.chunks, [Buffer.from('head'), { hole: 3 * 1024 * 1024 }, Buffer.from('tail'), { hole: 5 }]);
    assert.equal(streamArgs?.flags, C.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM);

    serve('STORAGE_VOL_DOWNLOAD', (s) => s.hole(4096));
    await assert.rejects(
      receiveAll(await client.storage.volDownload(VOL)),
      (e: unknown) => e instanceof ProtocolError && /not sparse/.test(e.message),
    );
  });

  it('does not end a download before libvirtd confirms the finish', async () => {
    serve('STORAGE_VOL_DOWNLOAD', (s) => {
      s.data(Buffer.from('all of it'));
      s.end();
    });
    const down = await client.storage.volDownload(VOL);
    let ended = false;
    const done = receiveAll(down).finally(() => {
      ended = true;
    });
    await opened().waitFor(isFinish);
    await sleep(100);
    assert.equal(ended, false, 'still waiting for the confirmation');
    opened().confirm();
    assert.ok(contentOf((await done).chunks).equals(Buffer.from('all of it')));
  });

  it('sends data, holes and the finish as libvirt packets, and finishes an upload only when libvirtd confirms', async () => {
    serve('STORAGE_VOL_UPLOAD');
    const up = await client.storage.volUpload(VOL, {}, C.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM);
    let finished = false;
    up.on('finish', () => {
      finished = true;
    });
    up.write(Buffer.from('abc'));
    up.write({ hole: 0x1_0000_0001 });
    up.write(Buffer.alloc(600_000, 7));
    up.end();
    const s = opened();
    const finish = await s.waitFor(isFinish);
    const [data, hole, ...rest] = s.received;
    assert.ok(data && hole);
    assert.equal(
      bytesOf(data).toString('hex'),
      fixture(
        '0000001f 20008086 00000001 000000d0 00000003 00000000 00000002 616263 // STREAM CONTINUE, raw "abc": no length word, no padding',
        data.header.serial,
      ),
    );
    assert.equal(
      bytesOf(hole).toString('hex'),
      fixture(
        '00000028 20008086 00000001 000000d0 00000006 00000000 00000002 00000001 00000001 00000000 // STREAM_HOLE CONTINUE, hyper length, flags 0',
        hole.header.serial,
      ),
    );
    assert.deepEqual(
      rest.map((p) => [p.header.type, p.header.status, p.payload.length]),
      [
        [3, 2, STREAM_DATA_MAX],
        [3, 2, STREAM_DATA_MAX],
        [3, 2, 600_000 - 2 * STREAM_DATA_MAX],
        [3, 0, 0],
      ],
      'a large write is split into packets of at most 262120 bytes, then the finish',
    );
    assert.equal(finish.header.procedure, UPLOAD);
    await sleep(100);
    assert.equal(finished, false, "'finish' waits for libvirtd");
    s.confirm();
    await new Promise((resolve) => up.once('finish', resolve));
  });

  it('refuses a hole on an upload that is not sparse, without sending it', async () => {
    serve('STORAGE_VOL_UPLOAD');
    const up = await client.storage.volUpload(VOL);
    await assert.rejects(pipeline([Buffer.from('x'), { hole: 10 }], up), XdrEncodeError);
    await sleep(50);
    assert.deepEqual(
      opened().received.map((p) => p.header.type),
      [3, 3],
      'the data, then the abort; never a STREAM_HOLE (libvirtd would drop the connection)',
    );
  });

  it("fails a download and an upload with libvirt's error when libvirtd reports one mid-stream", async () => {
    serve('STORAGE_VOL_DOWNLOAD', (s) => {
      s.data(Buffer.alloc(1000));
      s.error({ code: 38, message: 'cannot read from volume: Input/output error' });
    });
    const down = await client.storage.volDownload(VOL);
    await assert.rejects(
      receiveAll(down),
      (e: unknown) =>
        e instanceof LibvirtError && e.message === 'cannot read from volume: Input/output error' && e.procedure === 'STORAGE_VOL_DOWNLOAD',
    );

    serve('STORAGE_VOL_UPLOAD');
    const up = await client.storage.volUpload(VOL);
    const failed = pipeline(
      (async function* () {
        yield Buffer.alloc(10);
        await opened().waitFor(() => true);
        opened().error(
          { code: 9, message: 'Unable to write stream: No space left on device' },
          1 /* REPLY, as daemonStreamHandleWriteData */,
        );
        await sleep(50);
        yield Buffer.alloc(10);
      })(),
      up,
    );
    await assert.rejects(failed, (e: unknown) => e instanceof LibvirtError && /No space left/.test(e.message));
    assert.equal(await client.connectGetLibVersion(), 9_000_000, 'the connection outlives the stream');
  });

  it('keeps an error that comes before the consumer is attached, for that consumer, without crashing the process', async () => {
    serve('STORAGE_VOL_DOWNLOAD', (s) => s.error({ code: 38, message: 'early failure' }));
    const down = await client.storage.volDownload(VOL);
    await sleep(100); // e.g. while the caller awaits the upload end of its pipeline
    assert.ok(down.errored instanceof LibvirtError);
    await assert.rejects(receiveAll(down), (e: unknown) => e instanceof LibvirtError && e.message === 'early failure');
  });

  it('aborts with a STREAM ERROR packet when the caller destroys a download or an upload', async () => {
    serve('STORAGE_VOL_DOWNLOAD', (s) => s.data(Buffer.alloc(10)));
    const down = await client.storage.volDownload(VOL);
    down.destroy();
    const abort = await opened().waitFor(isAbort);
    assert.equal(
      bytesOf(abort).toString('hex'),
      fixture('0000001c 20008086 00000001 000000d1 00000003 00000000 00000001 // STREAM, serial, ERROR, no payload', abort.header.serial),
    );
    serve('STORAGE_VOL_UPLOAD');
    const ac = new AbortController();
    const up = await client.storage.volUpload(VOL, {}, 0, { signal: ac.signal });
    up.write(Buffer.from('partial'));
    ac.abort();
    await opened().waitFor(isAbort);
    assert.equal(await client.connectGetLibVersion(), 9_000_000);
  });

  it('does not open a stream when libvirtd refuses the call, and sends no abort for it', async () => {
    mock.on('STORAGE_VOL_UPLOAD', () => ({
      error: { code: 50, message: "Storage volume not found: no storage vol with matching path 'x'" },
    }));
    await assert.rejects(client.storage.volUpload(VOL), (e: unknown) => e instanceof LibvirtError && e.code === C.VIR_ERR_NO_STORAGE_VOL);
    await sleep(50);
    assert.equal(mock.received.filter((h) => h.type === 3).length, 0);
  });

  it('errors a download and a blocked upload with InterruptedError when the connection drops, without hanging', async () => {
    serve('STORAGE_VOL_DOWNLOAD', (s) => s.data(Buffer.alloc(100)));
    const down = await client.storage.volDownload(VOL);
    const downDone = receiveAll(down);
    await sleep(50);
    mock.dropAll();
    await assert.rejects(downDone, InterruptedError);

    const c2 = await LibvirtClient.connect({ dialer: mock.dialer(), keepalive: false });
    try {
      serve('STORAGE_VOL_UPLOAD', (s) => s.socket.pause()); // libvirtd stops reading: the writer blocks
      const up = await c2.storage.volUpload(VOL);
      const upDone = pipeline(
        (function* () {
          for (let i = 0; i < 256; i++) yield Buffer.alloc(1 << 20);
        })(),
        up,
      );
      await sleep(200);
      mock.dropAll();
      await assert.rejects(upDone, InterruptedError);
    } finally {
      await c2.close();
    }
  });

  it("bounds a slow consumer's buffer by pausing the socket while libvirtd floods, and keeps the connection alive", async () => {
    const c = await LibvirtClient.connect({ dialer: mock.dialer(), keepalive: { intervalMs: 100, count: 2 } });
    try {
      const packets = 256; // 64 MiB
      let mockBacklog = 0;
      serve('STORAGE_VOL_DOWNLOAD', (s) => {
        s.confirmFinish();
        for (let i = 0; i < packets; i++) s.data(Buffer.alloc(STREAM_DATA_MAX, i));
        s.end();
        mockBacklog = s.socket.writableLength;
      });
      const hwm = 4;
      const down = await c.storage.volDownload(VOL, {}, 0, { highWaterMark: hwm });
      let maxBuffered = 0;
      const pingsBefore = mock.received.filter((h) => h.program === 0x6b656570).length;
      const it = down[Symbol.asyncIterator]();
      await it.next();
      for (let i = 0; i < 20; i++) {
        await sleep(50); // a stalled consumer: 1 s, ten keepalive intervals
        maxBuffered = Math.max(maxBuffered, down.readableLength);
      }
      const s = opened();
      assert.ok(maxBuffered <= hwm + 2, `at most highWaterMark + 2 packets buffered, saw ${maxBuffered}`);
      assert.ok(
        s.socket.writableLength > 32 * 1024 * 1024,
        `the client stopped reading: ${s.socket.writableLength} bytes wait in the mock`,
      );
      assert.ok(mockBacklog > 0);
      const pings = mock.received.filter((h) => h.program === 0x6b656570).length - pingsBefore;
      assert.ok(pings >= 5, `keepalive pinged the daemon while paused (${pings} pings) so libvirtd keeps the client`);
      assert.ok(c.isOpen, 'our keepalive did not judge the silence we caused');
      let bytes = STREAM_DATA_MAX;
      for (let r = await it.next(); !r.done; r = await it.next()) {
        bytes += (r.value as Buffer).length;
        maxBuffered = Math.max(maxBuffered, down.readableLength);
      }
      assert.equal(bytes, packets * STREAM_DATA_MAX);
      assert.ok(maxBuffered <= hwm + 2);
    } finally {
      await c.close();
    }
  });

  it('makes an upload wait, not buffer, while libvirtd does not read', async () => {
    serve('STORAGE_VOL_UPLOAD', (s) => s.socket.pause());
    const up = await client.storage.volUpload(VOL, {}, 0, { highWaterMark: 2 });
    let produced = 0;
    let done = false;
    const uploaded = pipeline(
      (function* () {
        for (let i = 0; i < 64; i++) {
          produced += 1 << 20;
          yield Buffer.alloc(1 << 20, i);
        }
      })(),
      up,
    ).finally(() => {
      done = true;
    });
    await sleep(500);
    assert.equal(done, false);
    assert.ok(produced <= 16 * 1024 * 1024, `the writer waits: ${produced >> 20} MiB of 64 taken while libvirtd does not read`);
    const s = opened();
    s.confirmFinish();
    s.socket.resume();
    await uploaded;
    const total = s.received.reduce((n, p) => n + (p.header.status === 2 ? p.payload.length : 0), 0);
    assert.equal(total, 64 << 20, 'everything arrived once libvirtd read again');
  });
});
