/**
 * Where a cold migration's volumes go on the destination, decided from the
 * paths alone (libvirt-destination-volumes.ts then checks the disk): the
 * source's path when it lies inside one of storage.image_directories, so a
 * VM whose images live in an allowed directory keeps its paths; otherwise
 * `<first directory>/<vm id>/<file name>`, a directory of the VM's own so
 * that two VMs' "disk.qcow2" never meet. A peer names these paths, so
 * anything that would escape the allowed directories is refused here.
 */
import path from 'node:path';
import { FerryError } from '../../shared/errors.js';
import type { ColdVolume, VolumePlacement } from '../migration/index.js';

/** Formats the destination creates: qcow2 as such, raw content (an ISO image too) as raw. */
const CREATED_FORMAT: Readonly<Record<string, string>> = { qcow2: 'qcow2', raw: 'raw', iso: 'raw' };

/** The format a volume is created in on the destination, or undefined when Ferry cannot create it. */
export function createdFormat(format: string): string | undefined {
  return Object.hasOwn(CREATED_FORMAT, format) ? CREATED_FORMAT[format] : undefined;
}

/** Whether `file` lies strictly inside one of `directories` (all absolute). */
export function insideDirectories(file: string, directories: readonly string[]): boolean {
  const resolved = path.resolve(file);
  return directories.some((dir) => {
    const rel = path.relative(path.resolve(dir), resolved);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  });
}

/** One path per volume, never two alike; FAILED_PRECONDITION (STORAGE_FAILED) naming what cannot be placed. */
export function planPlacements(vmId: string, volumes: readonly ColdVolume[], directories: readonly string[]): VolumePlacement[] {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(vmId)) {
    throw new FerryError('INVALID_ARGUMENT', `vm_id: "${vmId}" cannot name a directory (letters, digits, '.', '_' and '-' only)`, {
      field: 'vm_id',
      reason: 'INVALID_FIELD',
    });
  }
  const taken = new Map<string, string>();
  return volumes.map((volume, i): VolumePlacement => {
    const field = `volumes[${i}].path`;
    if (!createdFormat(volume.format)) {
      throw refused(`volume ${volume.id} is in format "${volume.format}", which this host cannot create (qcow2 and raw only)`, field);
    }
    const target = placeOne(vmId, volume, directories, field, taken);
    const other = taken.get(target);
    if (other !== undefined) throw refused(`volumes ${other} and ${volume.id} would both be written to ${target}`, field);
    taken.set(target, volume.id);
    return { id: volume.id, sourcePath: volume.path, path: target };
  });
}

function placeOne(vmId: string, volume: ColdVolume, directories: readonly string[], field: string, taken: Map<string, string>): string {
  const source = path.resolve(volume.path);
  if (insideDirectories(source, directories)) return source;
  const [first] = directories;
  if (first === undefined) {
    throw refused(
      `volume ${volume.id} (${volume.path}) has nowhere to go: this host has no storage.image_directories; add one to its configuration`,
      field,
    );
  }
  const name = path.basename(source);
  const mapped = path.join(path.resolve(first), vmId, name);
  // Two disks of one VM from different directories may share a file name: the second is told apart by its id.
  if (!taken.has(mapped)) return mapped;
  return path.join(path.resolve(first), vmId, `${volume.id.replace(/[^A-Za-z0-9._-]/g, '_')}-${name}`);
}

function refused(message: string, field: string): FerryError {
  return new FerryError('FAILED_PRECONDITION', message, { field, reason: 'STORAGE_FAILED' });
}
