/**
 * The images the destination creates for copy_storage, from the source's
 * disks: the same path, format and virtual size; for an incremental copy the
 * backing image too, which stays shared (only the top image is copied).
 */
import type { DiskImageSpec, VmDisk } from '../ports.js';
import type { CopyStorage } from '../types.js';

export function imageSpecsOf(disks: readonly VmDisk[], copyStorage: CopyStorage): DiskImageSpec[] {
  return disks.map((d) => ({
    target: d.target,
    path: d.path,
    format: d.format,
    capacityBytes: d.capacityBytes,
    allocationBytes: d.allocationBytes,
    ...(copyStorage === 'incremental' && d.backingPath ? { backingPath: d.backingPath, backingFormat: d.backingFormat ?? '' } : {}),
  }));
}
