// Cold migration on the lab: a shut-off guest with two local disks, their
// contents as checksums, and what each host holds of it afterwards.
import { labExec, labHost, virsh, accelerator } from './lab.js';
import { shapeNic } from './link-shaping.js';
import { execFile } from 'node:child_process';

/** virsh against the host's libvirtd from the root namespace; resolves with its exit code (0: it did it). */
function virshStatus(host: string, ...args: string[]): Promise<number> {
  return new Promise((resolve) => {
    execFile('virsh', ['-q', '-c', labHost(host).libvirtUri, ...args], (err) => resolve(err ? 1 : 0));
  });
}

/** Where the raw disk lives: outside storage.image_directories, on the filesystem every lab host shares (a destination maps it). */
export const OUTSIDE_DIR = '/var/lib/ferry-lab/cold-guests';
const IMAGES = '/var/lib/libvirt/images';

export interface ColdGuest {
  name: string;
  uuid: string;
  /** 4 GiB virtual, 300 MiB written in three places unless told (vda). */
  qcow2: string;
  /** 1 GiB sparse, 20 MiB of random data at 512 MiB (vdb); under OUTSIDE_DIR. */
  raw: string;
}

/**
 * Defines (does not start) a guest whose two disks are local to `host`: the
 * qcow2 in the host's own image directory, the raw one outside any pool.
 */
export async function createColdGuest(host: string, name: string, options: { writtenMiB?: number } = {}): Promise<ColdGuest> {
  const qcow2 = `${IMAGES}/${name}-a.qcow2`;
  const raw = `${OUTSIDE_DIR}/${host}-${name}-b.raw`;
  await labExec(host, ['mkdir', '-p', OUTSIDE_DIR, IMAGES]);
  await labExec(host, ['rm', '-f', qcow2, raw]);
  await labExec(host, ['qemu-img', 'create', '-q', '-f', 'qcow2', qcow2, '4G']);
  // Three regions of random-looking data (a pattern per region), so the copy has real bytes to carry.
  const third = Math.max(1, Math.round((options.writtenMiB ?? 300) / 3));
  const writes = [`write -P 0x11 0 ${third}M`, `write -P 0x22 1G ${third}M`, `write -P 0x33 3G ${third}M`];
  await labExec(host, ['qemu-io', '-f', 'qcow2', ...writes.flatMap((w) => ['-c', w]), qcow2], { timeoutMs: 120_000 });
  await labExec(host, ['truncate', '-s', '1G', raw]);
  await labExec(host, ['dd', 'if=/dev/urandom', `of=${raw}`, 'bs=1M', 'count=20', 'seek=512', 'conv=notrunc', 'status=none']);
  const type = accelerator(host) === 'KVM' ? 'kvm' : 'qemu';
  const xml = `<domain type='${type}'>
  <name>${name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${qcow2}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${raw}'/><target dev='vdb' bus='virtio'/></disk>
    <controller type='usb' model='none'/>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>`;
  const file = `${OUTSIDE_DIR}/${host}-${name}.xml`;
  await labExec(host, ['sh', '-c', `cat > ${file}`], { input: xml });
  await virsh(host, 'define', file);
  const uuid = (await virsh(host, 'domuuid', name)).trim();
  return { name, uuid, qcow2, raw };
}

/** Where a destination puts the guest's raw disk, which lies outside its image directories. */
export const mappedRaw = (guest: ColdGuest): string => `${IMAGES}/${guest.uuid}/${guest.raw.split('/').pop()}`;

/** Undefines the guest on every host given and removes its disks there: its own, and a destination's copies. */
export async function removeColdGuest(hosts: readonly string[], guest: ColdGuest): Promise<void> {
  for (const host of hosts) {
    await removeCopy(host, guest);
    await labExec(host, ['rm', '-f', guest.raw], { allowFail: true });
  }
}

/**
 * What a cold migration left on a destination: the definition, the qcow2 in
 * its own image directory, the mapped raw copy. Not the raw original, which
 * lies on the filesystem the lab hosts share.
 */
export async function removeCopy(host: string, guest: ColdGuest): Promise<void> {
  await virshStatus(host, 'destroy', guest.name);
  await virshStatus(host, 'undefine', guest.name);
  await labExec(host, ['rm', '-rf', guest.qcow2, mappedRaw(guest), `${IMAGES}/${guest.uuid}`], { allowFail: true });
}

/** sha256 of each file on the host ('' for a missing one). */
export async function checksums(host: string, paths: readonly string[]): Promise<string[]> {
  return Promise.all(
    paths.map(async (p) => {
      const r = await labExec(host, ['sha256sum', p], { allowFail: true, timeoutMs: 120_000 });
      return r.code === 0 ? (r.stdout.split(' ')[0] ?? '') : '';
    }),
  );
}

/** Bytes the file takes on disk (its allocation: what a sparse copy must carry). */
export async function allocatedBytes(host: string, path: string): Promise<number> {
  const r = await labExec(host, ['stat', '-c', '%b %B', path]);
  const [blocks, size] = r.stdout.trim().split(' ').map(Number);
  return (blocks ?? 0) * (size ?? 0);
}

export async function exists(host: string, path: string): Promise<boolean> {
  return (await labExec(host, ['test', '-e', path], { allowFail: true })).code === 0;
}

/** Whether libvirt on the host knows the domain. */
export async function defined(host: string, name: string): Promise<boolean> {
  return (await virshStatus(host, 'dominfo', name)) === 0;
}

/** The host's migration NIC (eth1) held to `mbit`, so a transfer lasts long enough to act during it; 0 removes it. */
export function shapeMigrationNic(host: string, mbit: number): Promise<void> {
  return shapeNic(host, 'eth1', mbit);
}
