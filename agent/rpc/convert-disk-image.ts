/** DiskImage (PrepareIncoming's and CheckIncoming's disks) between the proto message and the core's DiskImageSpec. */
import type { DiskImage, DiskImage__Output } from '../../shared/generated/ferry/v1/DiskImage.js';
import { requireAbsolutePath, requireText } from '../../shared/validation.js';
import type { DiskImageSpec } from '../migration/index.js';

/** Shape only; which paths and formats this host accepts is the storage adapter's call. */
export function diskImageFrom(d: DiskImage__Output, i: number): DiskImageSpec {
  const field = `disks[${i}]`;
  return {
    target: requireText(`${field}.target`, d.target, 'the guest device, e.g. vda'),
    path: requireAbsolutePath(`${field}.path`, d.path),
    format: requireText(`${field}.format`, d.format, 'the image format, e.g. qcow2'),
    capacityBytes: d.capacityBytes,
    ...(d.allocationBytes > 0 ? { allocationBytes: d.allocationBytes } : {}),
    ...(d.backingPath ? { backingPath: requireAbsolutePath(`${field}.backing_path`, d.backingPath), backingFormat: d.backingFormat } : {}),
  };
}

export function diskImageToProto(d: DiskImageSpec): DiskImage {
  return {
    target: d.target,
    path: d.path,
    format: d.format,
    capacityBytes: d.capacityBytes,
    allocationBytes: d.allocationBytes ?? 0,
    backingPath: d.backingPath ?? '',
    backingFormat: d.backingFormat ?? '',
  };
}
