// The pure parts of cold migration's volume adapters (agent/storage/): where a volume lands on
// the destination, the pool Ferry defines for a directory, and what it reads of a volume's XML.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFerryError } from '../../shared/errors.js';
import type { ColdVolume } from '../../agent/migration/index.js';
import { directoryPoolIdentity, directoryPoolXml, parseVolumeXml, volumeXml } from '../../agent/storage/storage-xml.js';
import { createdFormat, insideDirectories, planPlacements } from '../../agent/storage/volume-placement.js';

const VM = '6c1f2f0e-1b7a-4c55-9d1e-3f6a2b7c8d90';
const volume = (id: string, path: string, format = 'qcow2'): ColdVolume => ({
  id,
  path,
  format,
  capacityBytes: 1 << 30,
  streamBytes: 1 << 20,
  allocationBytes: 1 << 20,
});

describe('placement of arriving volumes', () => {
  it('keeps a path inside the allowed directories and maps one outside into the first, under the VM id', () => {
    const placed = planPlacements(
      VM,
      [
        volume('vda', '/srv/images/a/disk.qcow2'),
        volume('vdb', '/home/me/vm/data.raw', 'raw'),
        volume('saved-state', '/var/lib/x.sav', 'raw'),
      ],
      ['/srv/images', '/data/images'],
    );
    assert.deepEqual(placed, [
      { id: 'vda', sourcePath: '/srv/images/a/disk.qcow2', path: '/srv/images/a/disk.qcow2' },
      { id: 'vdb', sourcePath: '/home/me/vm/data.raw', path: `/srv/images/${VM}/data.raw` },
      { id: 'saved-state', sourcePath: '/var/lib/x.sav', path: `/srv/images/${VM}/x.sav` },
    ]);
  });

  it('tells apart two volumes with one file name by their ids, never placing two at one path', () => {
    const placed = planPlacements(VM, [volume('vda', '/a/disk.qcow2'), volume('vdb', '/b/disk.qcow2')], ['/srv/images']);
    assert.deepEqual(
      placed.map((p) => p.path),
      [`/srv/images/${VM}/disk.qcow2`, `/srv/images/${VM}/vdb-disk.qcow2`],
    );
    assert.throws(
      () => planPlacements(VM, [volume('vda', '/srv/images/d.qcow2'), volume('vdb', '/srv/images/x/../d.qcow2')], ['/srv/images']),
      (e: unknown) =>
        isFerryError(e, 'FAILED_PRECONDITION') && /volumes vda and vdb would both be written to \/srv\/images\/d\.qcow2/.test(e.message),
    );
  });

  it('does not count a directory itself, a sibling with a common prefix or a path climbing out as inside', () => {
    assert.equal(insideDirectories('/srv/images', ['/srv/images']), false);
    assert.equal(insideDirectories('/srv/images2/d.raw', ['/srv/images']), false);
    assert.equal(insideDirectories('/srv/images/../etc/passwd', ['/srv/images']), false);
    assert.equal(insideDirectories('/srv/images/vm/d.raw', ['/srv/images/']), true);
    const placed = planPlacements(VM, [volume('vda', '/srv/images/../etc/disk.qcow2')], ['/srv/images']);
    assert.equal(placed[0]?.path, `/srv/images/${VM}/disk.qcow2`, 'a climbing path is mapped, not kept');
  });

  it('refuses with STORAGE_FAILED when there is no directory or the format cannot be created, and a vm id that is not a name', () => {
    assert.throws(
      () => planPlacements(VM, [volume('vda', '/a/disk.qcow2')], []),
      (e: unknown) =>
        isFerryError(e, 'FAILED_PRECONDITION') && e.reason === 'STORAGE_FAILED' && /no storage\.image_directories/.test(e.message),
    );
    assert.throws(
      () => planPlacements(VM, [volume('vda', '/srv/images/disk.vmdk', 'vmdk')], ['/srv/images']),
      (e: unknown) => isFerryError(e, 'FAILED_PRECONDITION') && e.details.field === 'volumes[0].path' && /"vmdk"/.test(e.message),
    );
    assert.throws(
      () => planPlacements('../etc', [volume('vda', '/a/d.raw', 'raw')], ['/srv/images']),
      (e: unknown) => isFerryError(e, 'INVALID_ARGUMENT'),
    );
    assert.equal(createdFormat('iso'), 'raw');
    assert.equal(createdFormat('toString'), undefined);
  });
});

describe('storage XML', () => {
  it('names a directory pool by a stable digest of its path, with a stable UUID', () => {
    const a = directoryPoolIdentity('/var/lib/libvirt/images');
    assert.deepEqual(directoryPoolIdentity('/var/lib/libvirt/images'), a);
    assert.match(a.name, /^ferry-[0-9a-f]{12}$/);
    assert.match(a.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(directoryPoolIdentity('/var/lib/libvirt/images2').name, a.name);
    assert.equal(
      directoryPoolXml("/srv/a&b's"),
      `<pool type='dir'><name>${directoryPoolIdentity("/srv/a&b's").name}</name><uuid>${directoryPoolIdentity("/srv/a&b's").uuid}</uuid>` +
        `<target><path>/srv/a&amp;b&apos;s</path></target></pool>`,
    );
  });

  it('writes an empty volume of a format and capacity', () => {
    assert.equal(
      volumeXml('d<1>.qcow2', 'qcow2', 1073741824),
      "<volume><name>d&lt;1&gt;.qcow2</name><capacity unit='bytes'>1073741824</capacity><allocation unit='bytes'>0</allocation>" +
        "<target><format type='qcow2'/></target></volume>",
    );
  });

  it("reads the target's format, not the backing store's, and the backing file's path", () => {
    const xml = `<volume type='file'>
  <name>overlay.qcow2</name>
  <capacity unit='bytes'>8388608</capacity>
  <target>
    <path>/srv/images/overlay.qcow2</path>
    <format type='qcow2'/>
  </target>
  <backingStore>
    <path>/srv/base &amp; co.raw</path>
    <format type='raw'/>
  </backingStore>
</volume>`;
    assert.deepEqual(parseVolumeXml(xml), { format: 'qcow2', backingPath: '/srv/base & co.raw' });
    assert.deepEqual(parseVolumeXml("<volume><target><path>/x</path><format type='raw'/></target></volume>"), {
      format: 'raw',
      backingPath: '',
    });
  });
});
