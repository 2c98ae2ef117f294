/**
 * Memory, huge pages and versions: what the destination must have for the
 * guest, and not be older than the source in (QEMU migrates to the same or a
 * newer version; Nova's live-migration checks refuse an older hypervisor too).
 */
import { versionText } from '../../../shared/libvirt-version.js';
import type { HostFeatures } from '../policy/policy.js';
import type { Findings } from './findings.js';

const MiB = 1024 ** 2;

/**
 * What QEMU takes besides the guest's memory: its own heap, device and
 * migration buffers, page tables. An estimate, on the safe side for small
 * guests; libvirt has no figure for it either (it adds 1 GiB when it must
 * bound locked memory for VFIO).
 */
export function qemuOverheadBytes(guestBytes: number): number {
  return 128 * MiB + Math.ceil(guestBytes / 64);
}

export function checkMemory(guestBytes: number, availableBytes: number, out: Findings): void {
  const needed = guestBytes + qemuOverheadBytes(guestBytes);
  if (availableBytes < needed) {
    out.block(
      'MEMORY_INSUFFICIENT',
      `the destination has ${mib(availableBytes)} MiB of memory available, and the VM needs ${mib(needed)} MiB (${mib(guestBytes)} MiB of guest memory and QEMU's overhead): free memory there, or choose another destination`,
    );
  }
}

export function checkHugepages(guestBytes: number, pageBytes: number, freePages: number, out: Findings): void {
  const needed = Math.ceil(guestBytes / pageBytes);
  if (freePages < needed) {
    out.block(
      'HUGEPAGES_INSUFFICIENT',
      `the VM's memory is backed by ${pageBytes / 1024} KiB huge pages and the destination has ${freePages} free, ${needed} needed: reserve more there (vm.nr_hugepages or /sys/kernel/mm/hugepages), or choose another destination`,
    );
  }
}

/** libvirt's version numbers (major * 1,000,000 + minor * 1,000 + release); 0 is unknown and not compared. */
export function checkVersions(source: { libvirt: number; qemu: number }, here: HostFeatures, out: Findings): void {
  const older = [
    ['libvirt', source.libvirt, here.libvirtVersion],
    ['QEMU', source.qemu, here.qemuVersion],
  ] as const;
  for (const [what, theirs, ours] of older) {
    if (theirs > 0 && ours > 0 && ours < theirs) {
      out.block(
        'HYPERVISOR_OLDER',
        `the destination's ${what} ${versionText(ours)} is older than the source's ${versionText(theirs)}: upgrade it there, or choose a destination at least as new`,
      );
    }
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / MiB);
}
