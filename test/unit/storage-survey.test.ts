// The storage adapters' side of the checks before a migration, on this
// machine's own filesystems: whether paths exist and what filesystem holds
// them (LocalStoragePaths), and where copy_storage images would go, with the
// room there (QemuImgImages.survey). Nothing is created.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalStoragePaths } from '../../agent/storage/local-storage-paths.js';
import { QemuImgImages } from '../../agent/storage/qemu-img-images.js';

test('paths: present or not, and on a filesystem this machine does not share (its temporary directory)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-paths-'));
  try {
    await writeFile(path.join(dir, 'disk.img'), 'x');
    const [present, missing] = await new LocalStoragePaths().inspect([path.join(dir, 'disk.img'), path.join(dir, 'no', 'such.img')]);
    assert.equal(present?.exists, true);
    assert.equal(missing?.exists, false);
    assert.notEqual(present?.storage, 'shared', `${dir} is on ${present?.filesystem}`);
    assert.equal(missing?.filesystem, present?.filesystem, 'a missing path is judged by its nearest existing directory');
    assert.ok(present?.filesystem, 'the filesystem is named for messages');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('image sites: allowed or not, taken or not, the backing image there or not, and the free space of the filesystem they would land on', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-survey-'));
  try {
    const images = new QemuImgImages({ directories: [path.join(dir, 'images')], run: async () => assert.fail('nothing is created') });
    await mkdir(path.join(dir, 'images'));
    await writeFile(path.join(dir, 'images', 'taken.qcow2'), 'somebody else');
    const spec = (file: string, extra = {}) => ({ target: 'vda', path: file, format: 'qcow2', capacityBytes: 2 ** 30, ...extra });
    const sites = await images.survey([
      spec(path.join(dir, 'images', 'new', 'a.qcow2')),
      spec(path.join(dir, 'images', 'taken.qcow2')),
      spec(path.join(dir, 'elsewhere.qcow2')),
      spec(path.join(dir, 'images', 'b.qcow2'), { backingPath: path.join(dir, 'missing-base.img'), backingFormat: 'raw' }),
    ]);
    assert.deepEqual(
      sites.map((s) => [s.allowed, s.exists, s.backingExists]),
      [
        [true, false, true],
        [true, true, true],
        [false, false, true],
        [true, false, false],
      ],
    );
    const fs = await statfs(dir);
    for (const site of sites) {
      assert.equal(site.filesystem, sites[0]?.filesystem, 'one filesystem for all of them');
      // Free space moves with the machine; within 64 MiB of what statfs said a moment ago.
      assert.ok(Math.abs(site.freeBytes - fs.bavail * fs.bsize) < 64 * 2 ** 20, `${site.freeBytes} free`);
    }
    assert.equal(existsSync(path.join(dir, 'images', 'new')), false, 'a directory create() would make is not made by survey()');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
