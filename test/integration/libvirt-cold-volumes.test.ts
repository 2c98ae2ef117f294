// Cold migration's volume adapters (agent/storage/) against lab1's libvirtd: the source side
// describes a qcow2 and a sparse raw file in a directory no pool covers (so it defines one), the
// destination side places and creates them in another directory standing for the destination's
// storage.image_directories, and the volume channel moves them over TLS on 127.0.0.1 through
// virStorageVolDownload and virStorageVolUpload. The copies must be byte-identical, the raw one
// still sparse, the qcow2 ones pass qemu-img check; a qcow2 with a corrupted header must fail the
// check on both sides and leave nothing once removed. Both "hosts" are lab1 (one libvirtd, two
// directories): what is tested is the adapters, not the network between two hosts.
// Everything it makes (pools ferry-*, directories under /var/tmp/ferry-it-cold-*) goes in `after`.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isFerryError } from '../../shared/errors.js';
import { ReconnectingClient, tcpDialer } from '../../agent/libvirt/index.js';
import type { ColdVolume, VolumeTransferProgress } from '../../agent/migration/index.js';
import { directoryPoolIdentity } from '../../agent/storage/storage-xml.js';
import { LibvirtDestinationVolumes } from '../../agent/storage/libvirt-destination-volumes.js';
import { LibvirtSourceVolumes } from '../../agent/storage/libvirt-source-volumes.js';
import { LibvirtVolumeChannel } from '../../agent/storage/volume-channel.js';
import { labHost } from '../support/libvirt-lab.js';
import { DESTINATION_ADDRESS, SOURCE_ADDRESS, SOURCE_HOST, transferPeers, type TransferPeers } from '../support/transfer-peers.js';

const MiB = 1024 * 1024;
const VM_ID = '6c1f2f0e-1b7a-4c55-9d1e-3f6a2b7c8d90';

let libvirt: ReconnectingClient;
let peers: TransferPeers;
let root = '';
let srcDir = '';
let dstDir = '';
const poolDirs = new Set<string>();

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { encoding: 'utf8' });

/** Writes `bytes` at `offset` of an existing file, in place. */
function writeAt(file: string, offset: number, bytes: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** A sparse raw file of `size` bytes with random data at each offset (1 MiB each). */
function sparseRaw(file: string, size: number, dataAt: number[]): void {
  closeSync(openSync(file, 'w'));
  execFileSync('truncate', ['-s', String(size), file]);
  for (const offset of dataAt) writeAt(file, offset, randomBytes(MiB));
}

function channel(side: 'source' | 'destination'): LibvirtVolumeChannel {
  return new LibvirtVolumeChannel(libvirt, { tls: () => peers.tls(side === 'source' ? peers.source : peers.destination) });
}

/** A port free on the destination address now (VolumeChannel.receive takes the pinhole's port, chosen beforehand). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, DESTINATION_ADDRESS, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Receives on the destination's channel and sends from the source's; both outcomes, settled. */
async function transfer(volumes: ColdVolume[], placed: Map<string, string>, progress: VolumeTransferProgress[] = []) {
  const port = await freePort();
  const receiving = await channel('destination').receive({
    address: DESTINATION_ADDRESS,
    port,
    source: { address: SOURCE_ADDRESS, host: SOURCE_HOST },
    volumes: volumes.map((v) => ({ id: v.id, path: placed.get(v.id) ?? '', format: v.format, streamBytes: v.streamBytes })),
    arrivalTimeoutMs: 10_000,
    signal: new AbortController().signal,
  });
  const [sent, received] = await Promise.allSettled([
    channel('source').send({
      address: DESTINATION_ADDRESS,
      port,
      localAddress: SOURCE_ADDRESS,
      token: receiving.token,
      volumes: volumes.map((v) => ({ id: v.id, path: v.path, streamBytes: v.streamBytes })),
      maxBandwidthMibps: () => 0,
      signal: new AbortController().signal,
      onProgress: (p) => progress.push(p),
    }),
    receiving.done,
  ]);
  return { sent, received };
}

function failure(result: PromiseSettledResult<unknown>): Error {
  if (result.status === 'fulfilled') return assert.fail('expected a failure, got success');
  return result.reason as Error;
}

before(async () => {
  const host = labHost(1);
  libvirt = new ReconnectingClient({
    dialer: tcpDialer({ host: host.libvirtTcp.host, port: host.libvirtTcp.port }),
    uri: 'qemu:///system',
    callTimeoutMs: 60_000,
  });
  await libvirt.client();
  peers = await transferPeers();
  // /var/tmp is the same directory in lab1's mount namespace (scripts/lab.d/host-boot.sh binds only libvirt's own).
  root = mkdtempSync('/var/tmp/ferry-it-cold-');
  srcDir = path.join(root, 'src');
  dstDir = path.join(root, 'images');
  mkdirSync(srcDir);
  mkdirSync(dstDir);
});

after(async () => {
  if (libvirt) {
    const client = await libvirt.client().catch(() => null);
    for (const dir of poolDirs) {
      const pool = await client?.storage.poolLookupByName(directoryPoolIdentity(dir).name).catch(() => null);
      if (!pool || !client) continue;
      await client.storage.poolDestroy(pool).catch(() => undefined);
      await client.storage.poolUndefine(pool).catch((e: unknown) => console.error(`cleanup pool ${pool.name}:`, e));
    }
    await libvirt.close();
  }
  peers?.dispose();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('cold migration volumes against lab1', { timeout: 300_000 }, () => {
  it('describes, places, creates, moves and removes a qcow2 and a sparse raw volume', async () => {
    const qcow2 = path.join(srcDir, 'disk.qcow2');
    const raw = path.join(srcDir, 'data.raw');
    const small = path.join(srcDir, 'small.qcow2');
    const seed = path.join(root, 'seed.raw');
    sparseRaw(seed, 32 * MiB, [0, 20 * MiB]);
    qemuImg('convert', '-q', '-f', 'raw', '-O', 'qcow2', seed, qcow2);
    sparseRaw(raw, 64 * MiB, [MiB, 40 * MiB]);
    // Far smaller than the qcow2 libvirt creates for the same size (64 KiB clusters): the copy must not keep the created file's tail.
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', small, String(16 * MiB));

    const source = new LibvirtSourceVolumes(libvirt);
    poolDirs.add(srcDir);
    const volumes = await source.describe([
      { id: 'vda', path: qcow2 },
      { id: 'vdb', path: raw },
      { id: 'vdc', path: small },
    ]);
    const client = await libvirt.client();
    const pool = await client.storage.poolLookupByName(directoryPoolIdentity(srcDir).name);
    assert.equal((await client.storage.poolGetInfo(pool)).stateName, 'VIR_STORAGE_POOL_RUNNING', 'the source directory got a running pool');
    assert.deepEqual(
      volumes.map((v) => [v.id, v.format, v.capacityBytes, v.streamBytes]),
      [
        ['vda', 'qcow2', 32 * MiB, statSync(qcow2).size],
        ['vdb', 'raw', 64 * MiB, 64 * MiB],
        ['vdc', 'qcow2', 16 * MiB, statSync(small).size],
      ],
    );
    assert.equal(volumes[1]?.allocationBytes, statSync(raw).blocks * 512, "the raw file's allocation is what it holds on disk");
    assert.ok((volumes[1]?.allocationBytes ?? 0) < 8 * MiB);
    assert.deepEqual(await source.describe([{ id: 'vda', path: qcow2 }]), [volumes[0]], 'a second describe reuses the pool');

    const destination = new LibvirtDestinationVolumes(libvirt, { directories: [dstDir] });
    const placements = await destination.place(VM_ID, volumes);
    const vmDir = path.join(dstDir, VM_ID);
    poolDirs.add(vmDir);
    assert.deepEqual(
      placements.map((p) => [p.id, p.sourcePath, p.path]),
      [
        ['vda', qcow2, path.join(vmDir, 'disk.qcow2')],
        ['vdb', raw, path.join(vmDir, 'data.raw')],
        ['vdc', small, path.join(vmDir, 'small.qcow2')],
      ],
    );
    await destination.create(volumes, placements);
    for (const p of placements) assert.ok(existsSync(p.path), `${p.path} created`);
    await assert.rejects(destination.place(VM_ID, volumes), (e: unknown) => {
      assert.ok(isFerryError(e, 'FAILED_PRECONDITION'));
      assert.equal(e.reason, 'STORAGE_FAILED');
      assert.match(e.message, /disk\.qcow2 \(volume vda\) already exists/);
      return true;
    });

    const placed = new Map(placements.map((p) => [p.id, p.path]));
    const progress: VolumeTransferProgress[] = [];
    const { sent, received } = await transfer(volumes, placed, progress);
    assert.equal(sent.status, 'fulfilled', String((sent as PromiseRejectedResult).reason));
    assert.equal(received.status, 'fulfilled', String((received as PromiseRejectedResult).reason));
    for (const v of volumes) {
      const copy = placed.get(v.id) ?? '';
      assert.equal(sha256(copy), sha256(v.path), `${v.id}: the copy has the source's bytes`);
      assert.equal(statSync(copy).size, v.streamBytes, `${v.id}: and its length`);
    }
    const rawCopy = statSync(placed.get('vdb') ?? '');
    assert.ok(rawCopy.blocks * 512 < 8 * MiB, `the raw copy stays sparse (${rawCopy.blocks * 512} bytes allocated of ${rawCopy.size})`);
    for (const id of ['vda', 'vdc']) qemuImg('check', '-q', '-f', 'qcow2', placed.get(id) ?? ''); // throws on a failed check
    const last = progress.at(-1);
    const total = volumes.reduce((sum, v) => sum + v.streamBytes, 0);
    assert.deepEqual(
      last && { current: last.current, verified: last.verified, bytes: last.dataBytes + last.holeBytes },
      { current: '', verified: 3, bytes: total },
      'the last progress: every volume verified, every byte counted',
    );
    assert.ok((last?.holeBytes ?? 0) >= 50 * MiB, "the raw file's holes travelled as holes");
    assert.deepEqual(
      progress.filter((p, i) => p.current !== progress[i - 1]?.current).map((p) => p.current),
      ['vda', 'vdb', 'vdc', ''],
      'each volume is reported as it starts',
    );

    await source.remove(volumes.map((v) => v.path));
    for (const v of volumes) assert.equal(existsSync(v.path), false, `${v.path} removed on the source`);
    await source.remove([qcow2]); // already gone: skipped
    assert.equal(await client.storage.volLookupByPath(qcow2).catch(() => null), null, 'libvirt forgot the volume');
  });

  it('refuses what cannot move: a missing file, a block device, a network disk, a backing file', async () => {
    const source = new LibvirtSourceVolumes(libvirt);
    const base = path.join(srcDir, 'base.qcow2');
    const overlay = path.join(srcDir, 'overlay.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, String(8 * MiB));
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay);
    poolDirs.add(srcDir);
    const cases: Array<[string, RegExp]> = [
      [path.join(srcDir, 'missing.qcow2'), /missing\.qcow2 \(disk vda\) does not exist on this host/],
      ['/dev/loop0', /\/dev\/loop0 \(disk vda\) is a block device: cold migration copies file volumes only/],
      ['rbd:pool/image', /rbd:pool\/image \(disk vda\) is not a local file/],
      [overlay, /overlay\.qcow2 \(disk vda\) has the backing file .*base\.qcow2, which would not travel/],
    ];
    for (const [file, message] of cases) {
      await assert.rejects(source.describe([{ id: 'vda', path: file }]), (e: unknown) => {
        assert.ok(isFerryError(e, 'FAILED_PRECONDITION'), String(e));
        assert.equal(e.reason, 'STORAGE_FAILED');
        assert.match(e.message, message);
        return true;
      });
    }
  });

  it('places a volume inside the allowed directories at its own path, and refuses what does not fit', async () => {
    const destination = new LibvirtDestinationVolumes(libvirt, { directories: [dstDir] });
    const inside = path.join(dstDir, 'kept', 'disk.raw');
    const volume: ColdVolume = { id: 'vda', path: inside, format: 'raw', capacityBytes: MiB, streamBytes: MiB, allocationBytes: MiB };
    assert.deepEqual(await destination.place(VM_ID, [volume]), [{ id: 'vda', sourcePath: inside, path: inside }]);
    const huge = { ...volume, allocationBytes: 2 ** 52 };
    await assert.rejects(destination.place(VM_ID, [huge]), (e: unknown) => {
      assert.ok(isFerryError(e, 'RESOURCE_EXHAUSTED'), String(e));
      assert.match(e.message, /MiB free, but volumes vda need 4294967296 MiB/);
      return true;
    });
    const nowhere = new LibvirtDestinationVolumes(libvirt, { directories: [] });
    await assert.rejects(nowhere.place(VM_ID, [volume]), /this host has no storage\.image_directories/);
  });

  it('fails a qcow2 whose header is corrupt on both sides, and leaves no volume once removed', async () => {
    const corrupt = path.join(srcDir, 'corrupt.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', corrupt, String(16 * MiB));
    // Garbage over the L1 and refcount table offsets (bytes 40-55 of the qcow2 header, QEMU's
    // docs/interop/qcow2.txt): the magic stays, so libvirt still calls it qcow2, but QEMU cannot open it.
    writeAt(corrupt, 40, randomBytes(16));
    const source = new LibvirtSourceVolumes(libvirt);
    poolDirs.add(srcDir);
    const volumes = await source.describe([{ id: 'vde', path: corrupt }]);
    assert.equal(volumes[0]?.format, 'qcow2');
    const destination = new LibvirtDestinationVolumes(libvirt, { directories: [dstDir] });
    const placements = await destination.place(`${VM_ID}-corrupt`, volumes);
    poolDirs.add(path.dirname(placements[0]?.path ?? ''));
    await destination.create(volumes, placements);
    const copy = placements[0]?.path ?? '';
    const { sent, received } = await transfer(volumes, new Map([['vde', copy]]));
    const atDestination = failure(received);
    assert.match(atDestination.message, /writing volume vde failed: qemu-img check -f qcow2 .*corrupt\.qcow2 failed \(exit 1\)/);
    const atSource = failure(sent);
    assert.ok(isFerryError(atSource, 'ABORTED'), String(atSource));
    assert.match(atSource.message, /the destination aborted the transfer: .*qemu-img check/);
    assert.ok(existsSync(copy), 'the bytes arrived before the check refused them');
    await destination.remove([copy]);
    assert.equal(existsSync(copy), false, 'remove() deleted the copy');
    const client = await libvirt.client();
    assert.equal(await client.storage.volLookupByPath(copy).catch(() => null), null, 'libvirt has no volume there');
    await destination.remove([copy]); // already gone: skipped
    await source.remove([corrupt]);
  });
});
