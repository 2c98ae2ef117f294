// The storage calls and volume streams against a real libvirtd (lab1): a directory pool of the
// test's own in a temporary directory, sparse upload and download (holes travel as holes, not
// zeros), a qcow2 volume's bytes copied through download and upload, a 64 MiB round trip with the
// Buffers it holds watched, a consumer that stalls longer than libvirtd's keepalive window, and
// the errors a caller must see. Everything it creates is removed in `after`.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { constants, LibvirtError, type LibvirtClient, type StoragePool, type StorageVol } from '../../agent/libvirt/index.js';
import { connectHost, labExec, labHost, vmPrefix } from '../support/libvirt-lab.js';
import { exposedGc } from '../support/exposed-gc.js';
import { contentOf, receiveAll } from '../support/stream-chunks.js';
import { sleep } from '../support/wait.js';

const C = constants;
const MiB = 1024 * 1024;

describe('libvirt storage and volume streams against lab1', { timeout: 600_000 }, () => {
  let c: LibvirtClient;
  let host: string;
  let dir = '';
  let pool: StoragePool | undefined;
  const vols: StorageVol[] = [];

  const createVol = async (name: string, format: 'raw' | 'qcow2', capacityMiB: number): Promise<StorageVol> => {
    if (!pool) throw new Error('no pool');
    const xml = `<volume><name>${name}</name><capacity unit='MiB'>${capacityMiB}</capacity><allocation>0</allocation><target><format type='${format}'/></target></volume>`;
    const vol = await c.storage.volCreateXML(pool, xml);
    vols.push(vol);
    return vol;
  };
  /** Bytes the file really takes on disk in lab1 (its allocated blocks). */
  const allocatedOnDisk = async (path: string): Promise<number> => {
    const { stdout } = await labExec(host, ['stat', '-c', '%b %B', path]);
    const [blocks, size] = stdout.trim().split(' ').map(Number);
    return (blocks ?? 0) * (size ?? 0);
  };

  before(async () => {
    // lab1 must be up (scripts/lab status); this file does not bring the lab up or change it.
    host = labHost(1).name;
    c = await connectHost(1);
    c.onClose((reason) => console.error(`lab1 connection closed: ${reason.message}`));
    dir = (await labExec(host, ['mktemp', '-d', `/var/tmp/${vmPrefix}storage.XXXXXX`])).stdout.trim();
    await labExec(host, ['mkdir', '-p', dir]);
    pool = await c.storage.poolDefineXML(`<pool type='dir'><name>${vmPrefix}pool</name><target><path>${dir}</path></target></pool>`);
    await c.storage.poolBuild(pool);
    await c.storage.poolCreate(pool);
  });
  after(async () => {
    if (c && !c.isOpen) c = await connectHost(1); // a failed test may have lost it: clean up all the same
    if (c) {
      for (const v of vols) await c.storage.volDelete(v).catch((e: unknown) => console.error(`cleanup ${v.name}:`, e));
      if (pool) {
        await c.storage.poolDestroy(pool).catch((e: unknown) => console.error('cleanup pool destroy:', e));
        await c.storage.poolUndefine(pool).catch((e: unknown) => console.error('cleanup pool undefine:', e));
      }
      await c.close();
    }
    if (dir) await labExec(host, ['rm', '-rf', dir]).catch((e: unknown) => console.error('cleanup dir:', e));
  });

  it('finds its pool by name, by target path and in the list, running, and reads its info', async () => {
    assert.ok(pool);
    assert.deepEqual(await c.storage.poolLookupByName(pool.name), pool);
    assert.deepEqual(await c.storage.poolLookupByTargetPath(dir), pool);
    assert.ok((await c.storage.listAllPools()).some((p) => p.uuid === pool?.uuid));
    const info = await c.storage.poolGetInfo(pool);
    assert.equal(info.stateName, 'VIR_STORAGE_POOL_RUNNING');
    assert.ok(info.capacity > 0 && info.available > 0 && info.available <= info.capacity);
  });

  it('uploads a sparse volume with holes and downloads it back with the holes as holes', async () => {
    const vol = await createVol('sparse.raw', 'raw', 8);
    const path = await c.storage.volGetPath(vol);
    assert.equal(path, `${dir}/sparse.raw`);
    assert.deepEqual(await c.storage.volLookupByPath(path), vol);
    const a = randomBytes(MiB);
    const b = randomBytes(MiB);
    const layout = [a, { hole: 3 * MiB }, b, { hole: 3 * MiB }];
    const up = await c.storage.volUpload(vol, {}, 0 | C.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM);
    await pipeline(layout, up);
    assert.ok((await allocatedOnDisk(path)) <= 2 * MiB + 64 * 1024, 'the holes were not written as zeros');

    const sparse = await receiveAll(await c.storage.volDownload(vol, {}, C.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM));
    assert.equal(sparse.dataBytes, 2 * MiB, 'only the data travelled');
    assert.equal(sparse.holeBytes, 6 * MiB);
    assert.ok(contentOf(sparse.chunks).equals(contentOf(layout)));

    const dense = await receiveAll(await c.storage.volDownload(vol));
    assert.equal(dense.holeBytes, 0, 'no holes without the sparse flag');
    assert.equal(dense.dataBytes, 8 * MiB);
    assert.ok(contentOf(dense.chunks).equals(contentOf(layout)));

    const part = await receiveAll(await c.storage.volDownload(vol, { offset: 4 * MiB, length: MiB }));
    assert.ok(contentOf(part.chunks).equals(b), 'a range downloads those bytes only');
  });

  it("copies a qcow2 volume's bytes into another volume through download and upload", async () => {
    const src = await createVol('src.qcow2', 'qcow2', 16);
    assert.match(await c.storage.volGetXMLDesc(src), /<format type='qcow2'\/>/);
    const dst = await createVol('dst.qcow2', 'qcow2', 16);
    const original = contentOf((await receiveAll(await c.storage.volDownload(src))).chunks);
    assert.equal(original.subarray(0, 4).toString('latin1'), 'QFI\xfb', 'a qcow2 header');
    await pipeline(
      await c.storage.volDownload(src, {}, C.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM),
      await c.storage.volUpload(dst, {}, C.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM),
    );
    const copy = contentOf((await receiveAll(await c.storage.volDownload(dst))).chunks);
    assert.ok(copy.equals(original), 'the copy has the same bytes');
    const info = await c.storage.volGetInfo(dst);
    assert.equal(info.typeName, 'VIR_STORAGE_VOL_FILE');
    assert.equal(info.capacity, 16 * MiB, "libvirt reads the copy's qcow2 header");
    const physical = await c.storage.volGetInfo(dst, C.VIR_STORAGE_VOL_GET_PHYSICAL);
    assert.equal(physical.allocation, original.length, 'GET_PHYSICAL gives the file size');
  });

  it('round-trips 64 MiB with the memory of this process bounded', async (t) => {
    const size = 64 * MiB;
    const vol = await createVol('big.raw', 'raw', 64);
    const block = randomBytes(MiB);
    const sent = createHash('sha256');
    // Buffers held, not garbage waiting for the collector (whose timing depends on how much else
    // is allocated): sampled right after a full collection.
    const collect = exposedGc();
    collect();
    const baseBuffers = process.memoryUsage().arrayBuffers;
    let peakBuffers = 0;
    let samples = 0;
    const sampler = setInterval(() => {
      collect();
      samples += 1;
      peakBuffers = Math.max(peakBuffers, process.memoryUsage().arrayBuffers - baseBuffers);
    }, 10);
    try {
      const chunks = function* () {
        for (let i = 0; i < size / MiB; i++) {
          const chunk = Buffer.from(block);
          chunk.writeUInt32BE(i, 0); // no two MiB alike
          sent.update(chunk);
          yield chunk;
        }
      };
      let started = performance.now();
      await pipeline(chunks(), await c.storage.volUpload(vol));
      const uploadS = (performance.now() - started) / 1000;
      const received = createHash('sha256');
      let bytes = 0;
      started = performance.now();
      const sink = new Writable({
        objectMode: true,
        write(chunk: Buffer, _enc, cb) {
          received.update(chunk);
          bytes += chunk.length;
          cb();
        },
      });
      await pipeline(await c.storage.volDownload(vol, {}, 0, { highWaterMark: 4 }), sink);
      const downloadS = (performance.now() - started) / 1000;
      assert.equal(bytes, size);
      assert.equal(received.digest('hex'), sent.digest('hex'));
      t.diagnostic(
        `64 MiB: upload ${(64 / uploadS).toFixed(0)} MiB/s, download ${(64 / downloadS).toFixed(0)} MiB/s, Buffers held at most ${(peakBuffers / MiB).toFixed(1)} MiB more (${samples} samples)`,
      );
      // Held: the upload's 16 chunks of 1 MiB and the socket's queue; the download's 4 packets.
      assert.ok(
        peakBuffers < 32 * MiB,
        `Buffers held grew by ${(peakBuffers / MiB).toFixed(1)} MiB moving 64 MiB: the streams must not hold the whole volume`,
      );
    } finally {
      clearInterval(sampler);
    }
  });

  it("keeps the connection while a download's consumer stalls longer than libvirtd's keepalive window (5 s × 5)", async (t) => {
    const vol = await createVol('stall.raw', 'raw', 8);
    await pipeline([randomBytes(8 * MiB)], await c.storage.volUpload(vol));
    const down = await c.storage.volDownload(vol, {}, 0, { highWaterMark: 2 });
    try {
      const it = down[Symbol.asyncIterator]();
      const first = await it.next();
      assert.equal(first.done, false);
      await sleep(40_000);
      assert.ok(c.isOpen, 'libvirtd kept the stalled client');
      // The price of pausing the socket (stream-incoming.ts): a call's reply waits behind the stall.
      let answered = false;
      const hostname = c.connectGetHostname().finally(() => {
        answered = true;
      });
      await sleep(1_000);
      assert.equal(answered, false, 'no reply is read while the consumer stalls');
      let bytes = (first.value as Buffer).length;
      for (let r = await it.next(); !r.done; r = await it.next()) bytes += (r.value as Buffer).length;
      assert.equal(bytes, 8 * MiB);
      assert.equal(await hostname, host, 'the reply arrives once the consumer reads again');
      t.diagnostic('stalled 40 s mid-download: the connection survived and the download completed');
    } finally {
      down.destroy(); // an abandoned download would keep the connection's socket paused
    }
  });

  it('reports libvirt errors: a missing volume, bad flags, and writing past the range mid-stream', async () => {
    assert.ok(pool);
    const missing = { pool: pool.name, name: 'missing.raw', key: `${dir}/missing.raw` };
    await assert.rejects(c.storage.volUpload(missing), (e: unknown) => e instanceof LibvirtError && e.code === C.VIR_ERR_NO_STORAGE_VOL);
    await assert.rejects(
      c.storage.volLookupByName(pool, 'missing.raw'),
      (e: unknown) => e instanceof LibvirtError && e.code === C.VIR_ERR_NO_STORAGE_VOL,
    );
    const vol = await createVol('small.raw', 'raw', 1);
    await assert.rejects(
      c.storage.volDownload(vol, {}, 0x80),
      (e: unknown) => e instanceof LibvirtError && e.code === C.VIR_ERR_INVALID_ARG,
    );
    const up = await c.storage.volUpload(vol, { offset: 0, length: 64 * 1024 });
    await assert.rejects(
      pipeline([randomBytes(MiB), randomBytes(MiB)], up),
      (e: unknown) => e instanceof LibvirtError && e.procedure === 'STORAGE_VOL_UPLOAD',
    );
    assert.equal(await c.connectGetHostname(), host, 'the connection outlives a failed stream');
  });
});
