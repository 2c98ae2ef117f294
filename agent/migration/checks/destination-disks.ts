/**
 * The guest's storage on the destination: every file it uses without copying
 * it must be there at the same path (shared storage, read-only images, boot
 * files), and for copy_storage every image must be creatable where
 * PrepareIncoming would create it, with room for what the copy writes.
 */
import type { DiskImageSpec, ImageSite, PathFacts, RequiredPath } from '../ports.js';
import type { Findings } from './findings.js';

export function checkRequiredPaths(paths: readonly RequiredPath[], facts: readonly PathFacts[], out: Findings): void {
  const present = new Set(facts.filter((f) => f.exists).map((f) => f.path));
  for (const { path, use } of paths) {
    if (!present.has(path)) {
      out.block(
        'DISK_PATH_MISSING',
        `${path} (${use}) does not exist on the destination: put it on storage both hosts share at the same path, or copy it there first`,
      );
    }
  }
}

/** sites[i] is where specs[i] would be created. */
export function checkImageSites(specs: readonly DiskImageSpec[], sites: readonly ImageSite[], out: Findings): void {
  const need = new Map<string, { bytes: number; free: number; disks: string[] }>();
  specs.forEach((spec, i) => {
    const site = sites[i];
    if (!site) return;
    const name = `disk ${spec.target} (${spec.path})`;
    if (!site.allowed) {
      out.block(
        'DISK_PATH_NOT_ALLOWED',
        `${name} lies outside the destination's storage.image_directories, where copy_storage may create images: add its directory there, or use shared storage and copy_storage none`,
      );
      return;
    }
    if (site.exists) {
      out.block(
        'DISK_IMAGE_EXISTS',
        `${name} already exists on the destination; copying would overwrite it: remove it, or use copy_storage none if the storage is shared`,
      );
      return;
    }
    if (!site.backingExists) {
      out.block(
        'BACKING_IMAGE_MISSING',
        `the backing image ${spec.backingPath ?? ''} of ${name} does not exist on the destination; an incremental copy needs it on shared storage (or use copy_storage all)`,
      );
    }
    const group = need.get(site.filesystem) ?? { bytes: 0, free: site.freeBytes, disks: [] };
    group.bytes += spec.allocationBytes ?? spec.capacityBytes;
    group.free = Math.min(group.free, site.freeBytes);
    group.disks.push(spec.target);
    need.set(site.filesystem, group);
  });
  for (const { bytes, free, disks } of need.values()) {
    if (free < bytes) {
      out.block(
        'STORAGE_INSUFFICIENT',
        `copying disk${disks.length > 1 ? 's' : ''} ${disks.join(', ')} needs ${mib(bytes)} MiB on the destination and its filesystem has ${mib(free)} MiB free: free space there, or choose another destination`,
      );
    }
  }
}

function mib(bytes: number): number {
  return Math.ceil(bytes / 1024 ** 2);
}
