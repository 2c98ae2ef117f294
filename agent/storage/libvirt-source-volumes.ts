/**
 * The SourceVolumes port over libvirt's storage pools: the source's side of
 * cold migration. Each file is looked up as a volume of the pool covering
 * its directory (defined by Ferry when there is none, directory-pools.ts),
 * after a refresh so that libvirt sees the file as it is now; libvirt then
 * says its format, virtual size, length and allocation, and later streams it
 * (virStorageVolDownload) and deletes it.
 *
 * Only regular files move: a block device or a network disk has no file a
 * directory pool could stream, and a volume with a backing file would arrive
 * pointing at a backing chain that stays here.
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../../shared/errors.js';
import { constants as c, type ReconnectingClient } from '../libvirt/index.js';
import type { ColdVolume, SourceVolumes } from '../migration/index.js';
import { DirectoryPools } from './directory-pools.js';
import { storageFailure } from './storage-errors.js';
import { parseVolumeXml } from './storage-xml.js';

export class LibvirtSourceVolumes implements SourceVolumes {
  private readonly pools: DirectoryPools;

  constructor(private readonly libvirt: ReconnectingClient) {
    this.pools = new DirectoryPools(libvirt);
  }

  async describe(files: readonly { id: string; path: string }[]): Promise<ColdVolume[]> {
    const described: ColdVolume[] = [];
    for (const [i, file] of files.entries()) described.push(await this.describeOne(file, `volumes[${i}].path`));
    return described;
  }

  async remove(paths: readonly string[]): Promise<void> {
    for (const file of paths) {
      const found = await stat(file).catch(() => null);
      if (!found) continue;
      if (!found.isFile()) throw refused(file, 'is not a regular file; Ferry deletes only the file volumes it copied', 'volumes');
      await this.pools.deleteVolumeAt(await realpath(file));
    }
  }

  private async describeOne(file: { id: string; path: string }, field: string): Promise<ColdVolume> {
    if (!path.isAbsolute(file.path)) {
      throw refused(
        file.path,
        `(disk ${file.id}) is not a local file: a network disk cannot be copied; keep it on its network storage`,
        field,
      );
    }
    // stat, not lstat: a disk may be a symbolic link; its pool is that of the file it names.
    const found = await stat(file.path).catch(() => null);
    if (!found) throw refused(file.path, `(disk ${file.id}) does not exist on this host: fix the VM's disk or remove it`, field);
    if (found.isBlockDevice()) {
      throw refused(
        file.path,
        `(disk ${file.id}) is a block device: cold migration copies file volumes only; convert it to a file (qemu-img convert) or put it on shared storage`,
        field,
      );
    }
    if (!found.isFile()) throw refused(file.path, `(disk ${file.id}) is not a regular file, which cold migration alone can copy`, field);

    const vol = await this.pools.volumeAt(await realpath(file.path)).catch((err: unknown) => {
      throw storageFailure(err, `looking up volume ${file.path} (disk ${file.id})`, field);
    });
    if (!vol)
      throw refused(file.path, `(disk ${file.id}) is not a volume of the storage pool of its directory (libvirt does not list it)`, field);
    try {
      const client = await this.libvirt.client();
      const [xml, info, physical] = await Promise.all([
        client.storage.volGetXMLDesc(vol),
        client.storage.volGetInfo(vol),
        client.storage.volGetInfo(vol, c.VIR_STORAGE_VOL_GET_PHYSICAL),
      ]);
      const description = parseVolumeXml(xml);
      if (description.backingPath) {
        throw refused(
          file.path,
          `(disk ${file.id}) has the backing file ${description.backingPath}, which would not travel: ` +
            'flatten it first (virsh blockpull, or qemu-img convert into a new image)',
          field,
        );
      }
      return {
        id: file.id,
        path: file.path,
        format: description.format || 'raw',
        capacityBytes: info.capacity,
        // The download of a file volume streams the file as it is: for qcow2, the container.
        streamBytes: physical.allocation,
        allocationBytes: info.allocation,
      };
    } catch (err) {
      throw storageFailure(err, `reading volume ${file.path} (disk ${file.id})`, field);
    }
  }
}

function refused(file: string, why: string, field: string): FerryError {
  return new FerryError('FAILED_PRECONDITION', `${file} ${why}`, { field, reason: 'STORAGE_FAILED' });
}
