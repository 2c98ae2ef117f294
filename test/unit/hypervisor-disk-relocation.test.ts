// relocateDisks (agent/hypervisor/disk-relocation.ts): a definition with its file disks at the
// destination's paths, every other byte as it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { relocateDisks } from '../../agent/hypervisor/disk-relocation.js';
import { isFerryError } from '../../shared/errors.js';

/** A domain as libvirt writes it (virsh dumpxml --inactive), with the disks given. */
function domain(disks: string): string {
  return `<domain type='kvm'>
  <name>vm1</name>
  <uuid>6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50</uuid>
  <memory unit='KiB'>131072</memory>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>
    <nvram>/var/lib/libvirt/qemu/nvram/vm1_VARS.fd</nvram>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
${disks}
    <interface type='network'>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
`;
}

const disk = (path: string, dev: string, quote = "'") =>
  `    <disk type=${quote}file${quote} device=${quote}disk${quote}>
      <driver name='qemu' type='qcow2'/>
      <source file=${quote}${path}${quote}/>
      <target dev='${dev}' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </disk>`;

test('moves several disks, each to its own path, and nothing else', () => {
  const before = domain([disk('/var/lib/libvirt/images/a.qcow2', 'vda'), disk('/var/lib/libvirt/images/b.qcow2', 'vdb')].join('\n'));
  const after = relocateDisks(before, [
    { from: '/var/lib/libvirt/images/a.qcow2', to: '/srv/ferry/a.qcow2' },
    { from: '/var/lib/libvirt/images/b.qcow2', to: '/srv/ferry/vm1-b.qcow2' },
  ]);
  const expected = domain([disk('/srv/ferry/a.qcow2', 'vda'), disk('/srv/ferry/vm1-b.qcow2', 'vdb')].join('\n'));
  assert.equal(after, expected);
});

test('a disk left out of the moves, a CD-ROM and the NVRAM file stay byte for byte', () => {
  const cdrom = `    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/libvirt/images/install.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>`;
  const before = domain([disk('/var/lib/libvirt/images/a.qcow2', 'vda'), disk('/var/lib/libvirt/images/b.qcow2', 'vdb'), cdrom].join('\n'));
  const after = relocateDisks(before, [{ from: '/var/lib/libvirt/images/b.qcow2', to: '/srv/b.qcow2' }]);
  assert.equal(after, domain([disk('/var/lib/libvirt/images/a.qcow2', 'vda'), disk('/srv/b.qcow2', 'vdb'), cdrom].join('\n')));
  assert.match(after, /<nvram>\/var\/lib\/libvirt\/qemu\/nvram\/vm1_VARS\.fd<\/nvram>/);
});

test('a path that another path begins with moves alone: /a/disk.qcow2 never touches /a/disk.qcow2.bak', () => {
  const before = domain([disk('/a/disk.qcow2.bak', 'vda'), disk('/a/disk.qcow2', 'vdb')].join('\n'));
  const after = relocateDisks(before, [{ from: '/a/disk.qcow2', to: '/b/disk.qcow2' }]);
  assert.equal(after, domain([disk('/a/disk.qcow2.bak', 'vda'), disk('/b/disk.qcow2', 'vdb')].join('\n')));
  // …and the longer path moves without dragging the shorter one.
  const other = relocateDisks(before, [{ from: '/a/disk.qcow2.bak', to: '/b/old.qcow2' }]);
  assert.equal(other, domain([disk('/b/old.qcow2', 'vda'), disk('/a/disk.qcow2', 'vdb')].join('\n')));
});

test('paths with entities are compared decoded and written escaped, in either quote', () => {
  const before = domain(
    [
      disk('/vm/R&amp;D/it&apos;s.qcow2', 'vda'),
      disk('/vm/&quot;q&quot; &lt;1&gt;.qcow2', 'vdb', '"'),
      disk('/vm/&#x41;&#66;.qcow2', 'vdc'),
    ].join('\n'),
  );
  const after = relocateDisks(before, [
    { from: "/vm/R&D/it's.qcow2", to: "/dst/R&D/it's.qcow2" },
    { from: '/vm/"q" <1>.qcow2', to: "/dst/'q'.qcow2" },
    { from: '/vm/AB.qcow2', to: '/dst/AB.qcow2' },
  ]);
  const expected = domain(
    [disk('/dst/R&amp;D/it&apos;s.qcow2', 'vda'), disk('/dst/&apos;q&apos;.qcow2', 'vdb', '"'), disk('/dst/AB.qcow2', 'vdc')].join('\n'),
  );
  assert.equal(after, expected);
  // The raw text of a path is not what is compared: '&amp;' is '&'.
  assert.equal(relocateDisks(before, [{ from: '/vm/R&amp;D/it&apos;s.qcow2', to: '/x' }]), before);
});

test("only the disk's own source moves, not a <backingStore> below it, and only type='file' disks", () => {
  const overlay = `    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/img/base.qcow2' index='2'/>
      <backingStore type='file' index='3'>
        <format type='qcow2'/>
        <source file='/img/base.qcow2'/>
        <backingStore type='file' index='4'>
          <format type='raw'/>
          <source file='/img/base.qcow2'/>
          <backingStore/>
        </backingStore>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>`;
  const block = `    <disk type='block' device='disk'>
      <driver name='qemu' type='raw'/>
      <source dev='/img/base.qcow2'/>
      <target dev='vdb' bus='virtio'/>
    </disk>`;
  const volume = `    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source pool='images' volume='base.qcow2'/>
      <target dev='vdc' bus='virtio'/>
    </disk>`;
  const before = domain([overlay, block, volume].join('\n'));
  const after = relocateDisks(before, [{ from: '/img/base.qcow2', to: '/new/base.qcow2' }]);
  assert.equal(
    after,
    domain(
      [overlay.replace("<source file='/img/base.qcow2' index='2'/>", "<source file='/new/base.qcow2' index='2'/>"), block, volume].join(
        '\n',
      ),
    ),
  );
});

test('a source with children and attributes around the path keeps them', () => {
  const withSeclabel = `    <disk type='file' device='disk'>
      <source file='/img/a.qcow2' startupPolicy='optional'>
        <seclabel model='dac' relabel='no'/>
      </source>
      <target dev='vda' bus='virtio'/>
    </disk>`;
  const after = relocateDisks(domain(withSeclabel), [{ from: '/img/a.qcow2', to: '/srv/a.qcow2' }]);
  assert.equal(after, domain(withSeclabel.replace("file='/img/a.qcow2'", "file='/srv/a.qcow2'")));
});

test('moves that name no disk change nothing; one path moved to two places is refused', () => {
  const before = domain(disk('/img/a.qcow2', 'vda'));
  assert.equal(relocateDisks(before, []), before);
  assert.equal(relocateDisks(before, [{ from: '/var/lib/ferry/vm1.save', to: '/srv/vm1.save' }]), before);
  assert.equal(
    relocateDisks(before, [
      { from: '/img/a.qcow2', to: '/srv/a.qcow2' },
      { from: '/img/a.qcow2', to: '/srv/a.qcow2' },
    ]),
    domain(disk('/srv/a.qcow2', 'vda')),
  );
  assert.throws(
    () =>
      relocateDisks(before, [
        { from: '/img/a.qcow2', to: '/srv/a.qcow2' },
        { from: '/img/a.qcow2', to: '/srv/b.qcow2' },
      ]),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /moved twice/.test(e.message),
  );
});
