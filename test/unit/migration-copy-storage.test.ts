// copy_storage on both sides without libvirt: the disks read from a domain's
// XML, the flags and params libvirt gets, the destination's images (created
// before the pinhole, removed after a failure, kept after success), and the
// qemu-img adapter's guards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { diskImagesOf } from '../../agent/hypervisor/domain-disks.js';
import { featuresOf, migrateFlags, migrateParams } from '../../agent/hypervisor/migrate-params.js';
import { constants as c } from '../../agent/libvirt/index.js';
import type { PrepareIncomingArgs } from '../../agent/migration/ports.js';
import { createArgs, QemuImgImages } from '../../agent/storage/qemu-img-images.js';
import { FerryError, isFerryError } from '../../shared/errors.js';
import { FakeDiskImages, FakePinholes } from '../support/fake-ports.js';
import { incomingMigrations, livePlan, prepareArgs } from '../support/migration-fixtures.js';

const DOMAIN = `<domain type='kvm'><devices>
  <disk type='file' device='disk'>
    <driver name='qemu' type='qcow2'/>
    <source file='/var/lib/libvirt/images/top.qcow2' index='2'/>
    <backingStore type='file' index='1'>
      <format type='raw'/>
      <source file='/shared/base.img'/>
      <backingStore/>
    </backingStore>
    <target dev='vda' bus='virtio'/>
  </disk>
  <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/vg/data'/><target dev='vdb' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/iso/x.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
  <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/shared/ro.img'/><target dev='vdc' bus='virtio'/><readonly/></disk>
  <disk type='network' device='disk'><source protocol='rbd' name='pool/x'/><target dev='vdd' bus='virtio'/></disk>
</devices></domain>`;

test('the disks to copy: writable file and block disks, with their backing image; not CD-ROMs, read-only or network disks', () => {
  assert.deepEqual(diskImagesOf(DOMAIN), [
    { target: 'vda', path: '/var/lib/libvirt/images/top.qcow2', format: 'qcow2', backingPath: '/shared/base.img', backingFormat: 'raw' },
    { target: 'vdb', path: '/dev/vg/data', format: 'raw' },
  ]);
});

const PLAN = livePlan({ initialDowntimeMs: 300 });

test('libvirt flags and params: multifd never gets COMPRESSED without a method; copy_storage passes disks_port and migrate_disks', () => {
  const parallel = { ...PLAN, parallelConnections: 4 };
  assert.equal(migrateFlags(parallel) & c.VIR_MIGRATE_PARALLEL, c.VIR_MIGRATE_PARALLEL);
  assert.equal(migrateFlags(parallel) & c.VIR_MIGRATE_COMPRESSED, 0);
  assert.deepEqual(migrateParams(parallel), {
    migrate_uri: 'tcp://198.19.0.2:49152',
    listen_address: '198.19.0.2',
    'parallel.connections': 4,
  });
  const zstd = { ...parallel, compression: 'zstd' as const };
  assert.equal(migrateFlags(zstd) & c.VIR_MIGRATE_COMPRESSED, c.VIR_MIGRATE_COMPRESSED);
  assert.equal(migrateParams(zstd).compression, 'zstd');
  const postcopy = migrateParams({ ...PLAN, postCopy: true, bandwidthMibps: 100 });
  assert.equal(postcopy.bandwidth, 100);
  assert.equal(postcopy['bandwidth.postcopy'], 100);
  const disks = { ...PLAN, copyStorage: 'all' as const, disksPort: 49153, migrateDisks: ['vda', 'vdb'] };
  assert.equal(migrateFlags(disks) & c.VIR_MIGRATE_NON_SHARED_DISK, c.VIR_MIGRATE_NON_SHARED_DISK);
  assert.equal(migrateFlags({ ...disks, copyStorage: 'incremental' }) & c.VIR_MIGRATE_NON_SHARED_INC, c.VIR_MIGRATE_NON_SHARED_INC);
  assert.deepEqual(migrateParams(disks), {
    migrate_uri: 'tcp://198.19.0.2:49152',
    listen_address: '198.19.0.2',
    disks_port: 49153,
    migrate_disks: ['vda', 'vdb'],
  });
});

test('host features from the versions libvirt reports', () => {
  assert.deepEqual(featuresOf(9_000_000, 7_002_022), {
    multifdCompression: false,
    postCopyWithParallel: false,
    versions: 'libvirt 9.0.0, QEMU 7.2.22',
    libvirtVersion: 9_000_000,
    qemuVersion: 7_002_022,
  });
  assert.equal(featuresOf(9_004_000, 7_002_022).multifdCompression, true);
  assert.equal(featuresOf(10_000_000, 10_001_000).postCopyWithParallel, true);
});

function destination(images?: FakeDiskImages) {
  const pinholes = new FakePinholes();
  const incoming = incomingMigrations({ pinholes, ...(images ? { images } : {}) });
  return { incoming, pinholes };
}
const DISK = { target: 'vda', path: '/var/lib/libvirt/images/a.qcow2', format: 'qcow2', capacityBytes: 1 << 30 };
const args = (extra: Partial<PrepareIncomingArgs> = {}): PrepareIncomingArgs => prepareArgs({ copyStorage: true, disks: [DISK], ...extra });

test('the destination creates the images with the pinhole, removes them when the source reports failure, keeps them on success', async () => {
  const images = new FakeDiskImages();
  const { incoming, pinholes } = destination(images);
  const offer = await incoming.prepare(args());
  assert.ok(offer.disksPort > 0);
  assert.deepEqual(images.created, [DISK.path]);
  assert.equal(await incoming.finish({ jobId: 'j1', vmId: 'v1', success: false }), true);
  assert.deepEqual(images.removed, [DISK.path]);
  await incoming.prepare(args({ jobId: 'j2' }));
  await incoming.finish({ jobId: 'j2', vmId: 'v1', success: true });
  assert.deepEqual(images.removed, [DISK.path]); // unchanged
  assert.deepEqual(pinholes.open_, []);
});

test('no pinhole when the images cannot be created; no images left when the pinhole cannot be opened; none without an adapter', async () => {
  const images = new FakeDiskImages();
  images.error = new FerryError('ALREADY_EXISTS', 'disks[0].path: exists');
  const { incoming, pinholes } = destination(images);
  await assert.rejects(incoming.prepare(args()), (e) => isFerryError(e, 'ALREADY_EXISTS'));
  assert.deepEqual(pinholes.open_, []);
  images.error = undefined;
  pinholes.open = async () => {
    throw new FerryError('RESOURCE_EXHAUSTED', 'no free port');
  };
  await assert.rejects(incoming.prepare(args()), (e) => isFerryError(e, 'RESOURCE_EXHAUSTED'));
  assert.deepEqual(images.removed, [DISK.path]);
  assert.equal(incoming.count, 0);
  await assert.rejects(
    destination().incoming.prepare(args()),
    (e) => isFerryError(e, 'FAILED_PRECONDITION') && /copy_storage none/.test(e.message),
  );
});

test('qemu-img images: only inside the allowed directories, never over a file, all or nothing', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-images-'));
  try {
    const runs: string[][] = [];
    let failOn = '';
    const images = new QemuImgImages({
      directories: [path.join(dir, 'images')],
      run: async (a) => {
        if (a.includes(failOn)) throw new Error('qemu-img: Could not create: No space left on device');
        runs.push([...a]);
        await writeFile(a.at(-2)!, 'image');
      },
    });
    const spec = (name: string, extra = {}) => ({
      target: 'vda',
      path: path.join(dir, 'images', name),
      format: 'qcow2',
      capacityBytes: 1 << 30,
      ...extra,
    });
    await assert.rejects(
      images.create([spec('../escape.qcow2')]),
      (e) => isFerryError(e, 'PERMISSION_DENIED') && /outside this host's storage.image_directories/.test(e.message),
    );
    await assert.rejects(images.create([{ ...spec('a.qcow2'), format: 'vmdk' }]), (e) => isFerryError(e, 'INVALID_ARGUMENT'));
    assert.deepEqual(await images.create([spec('a.qcow2')]), [path.join(dir, 'images', 'a.qcow2')]); // the directory is created too
    assert.deepEqual(runs[0], ['create', '-q', '-f', 'qcow2', path.join(dir, 'images', 'a.qcow2'), String(1 << 30)]);
    await assert.rejects(
      images.create([spec('a.qcow2')]),
      (e) => isFerryError(e, 'ALREADY_EXISTS') && /would overwrite it/.test(e.message),
    );
    failOn = path.join(dir, 'images', 'c.qcow2');
    await assert.rejects(
      images.create([spec('b.qcow2'), spec('c.qcow2')]),
      (e) => isFerryError(e, 'FAILED_PRECONDITION') && /No space left/.test(e.message),
    );
    assert.equal(existsSync(path.join(dir, 'images', 'b.qcow2')), false, 'the image created before the failure is removed');
    await assert.rejects(
      images.create([spec('d.qcow2', { backingPath: path.join(dir, 'missing.img'), backingFormat: 'raw' })]),
      (e) => isFerryError(e, 'FAILED_PRECONDITION') && /backing image on shared storage/.test(e.message),
    );
    assert.deepEqual(createArgs(spec('e.qcow2', { backingPath: '/shared/base.img', backingFormat: 'raw' })).slice(0, 8), [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      '/shared/base.img',
      '-F',
      'raw',
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
