/**
 * The source's disks against copy_storage. It follows libvirt's own safety
 * check before a migration (qemuMigrationSrcIsSafe in libvirt's
 * src/qemu/qemu_migration.c): a writable file disk on a filesystem that is
 * not shared must be copied, or libvirt refuses ("migration without shared
 * storage is unsafe"); read-only disks, block devices and disks on shared
 * filesystems stay where they are, so the destination must see them at the
 * same path; network disks need nothing. And a disk on shared storage must
 * not be copied: the destination would copy it onto itself.
 */
import type { PathFacts, RequiredPath, VmDiskUse } from '../ports.js';
import type { CopyStorage } from '../types.js';
import type { Findings } from './findings.js';

/** The file and block disks whose path the checks look at (network disks and empty drives have none). */
export function diskPaths(disks: readonly VmDiskUse[]): string[] {
  return disks.filter(hasLocalPath).map((d) => d.path);
}

/**
 * Finds the disks that block the migration; returns the files the
 * destination must already have. `copied`: the targets copy_storage copies
 * (the hypervisor's local disks; empty with copy_storage none).
 */
export function checkSourceDisks(
  disks: readonly VmDiskUse[],
  copied: ReadonlySet<string>,
  facts: ReadonlyMap<string, PathFacts>,
  copyStorage: CopyStorage,
  out: Findings,
): RequiredPath[] {
  const required: RequiredPath[] = [];
  for (const disk of disks.filter(hasLocalPath)) {
    const where = facts.get(disk.path);
    const name = `disk ${disk.target} (${disk.path})`;
    const fs = where?.filesystem || 'a filesystem of unknown type';
    if (copied.has(disk.target)) {
      if (disk.type === 'file' && where?.storage === 'shared') {
        out.block(
          'SHARED_DISK_COPIED',
          `${name} is on shared storage (${fs}), which copy_storage ${copyStorage} would copy onto itself: migrate with copy_storage none`,
        );
      }
      continue;
    }
    if (!disk.readOnly && disk.type === 'file') {
      if (where?.storage === 'local') {
        out.block(
          'LOCAL_DISK_NOT_COPIED',
          copyStorage === 'none'
            ? `${name} is on this host's local storage (${fs}): migrate with copy_storage all, or move the disk to shared storage`
            : `${name} is on this host's local storage (${fs}) and copy_storage does not copy it (it copies writable, unshared disks of device "disk" only): move it to shared storage`,
        );
        continue;
      }
      if (where?.storage !== 'shared') {
        out.warn(
          'CHECK_INCOMPLETE',
          `cannot tell whether ${name} is on shared storage (${fs}): libvirt refuses the migration if it is not (then use copy_storage all)`,
        );
      }
    }
    required.push({ path: disk.path, use: `disk ${disk.target}${disk.readOnly ? ' (read-only)' : ''}` });
  }
  return required;
}

function hasLocalPath(disk: VmDiskUse): boolean {
  return disk.path !== '' && (disk.type === 'file' || disk.type === 'block');
}
