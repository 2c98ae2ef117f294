/**
 * The storage pools cold migration reaches files through: libvirt's
 * volume calls (download, upload, create, delete) work on volumes of a
 * running pool, so every directory a moved volume lives in needs one.
 * A directory that a running pool already targets uses it; otherwise
 * Ferry defines a directory pool of its own (storage-xml.ts names it).
 *
 * Ferry's pools are persistent, with autostart off, rather than transient
 * (virStoragePoolCreateXML): with a stable name and UUID, defining one is
 * idempotent, so two migrations (or two agents' runs) that need the same
 * directory converge on one pool instead of racing to create it, and an
 * operator sees every directory Ferry reached in `virsh pool-list --all`.
 * Autostart stays off so that libvirtd never starts one at boot on storage
 * that may not be mounted: Ferry starts it when a migration needs it.
 */
import path from 'node:path';
import type { ReconnectingClient, StoragePool, StorageVol } from '../libvirt/index.js';
import { constants as c } from '../libvirt/index.js';
import { directoryPoolXml } from './storage-xml.js';
import { isNoStoragePool, isNoStorageVol, storageFailure } from './storage-errors.js';

export class DirectoryPools {
  /** One lookup-or-define per directory at a time, so concurrent callers share it. */
  private readonly ensuring = new Map<string, Promise<StoragePool>>();

  constructor(private readonly libvirt: ReconnectingClient) {}

  /** The running pool whose target is `dir` (absolute), defined and started when none is. */
  covering(dir: string): Promise<StoragePool> {
    const key = path.resolve(dir);
    let pending = this.ensuring.get(key);
    if (!pending) {
      pending = this.ensure(key).finally(() => this.ensuring.delete(key));
      this.ensuring.set(key, pending);
    }
    return pending;
  }

  /** Rescans the pool, so files put in its directory behind libvirt's back are volumes. */
  async refresh(pool: StoragePool): Promise<void> {
    const client = await this.libvirt.client();
    await client.storage.poolRefresh(pool);
  }

  /** The volume at `file` after its directory's pool is refreshed, or null when libvirt finds none there. */
  async volumeAt(file: string): Promise<StorageVol | null> {
    await this.refresh(await this.covering(path.dirname(file)));
    const client = await this.libvirt.client();
    try {
      return await client.storage.volLookupByPath(file);
    } catch (err) {
      if (isNoStorageVol(err)) return null;
      throw err;
    }
  }

  /** Deletes the volume at `file` through its pool; false when there was none. */
  async deleteVolumeAt(file: string): Promise<boolean> {
    const vol = await this.volumeAt(file);
    if (!vol) return false;
    const client = await this.libvirt.client();
    try {
      await client.storage.volDelete(vol, c.VIR_STORAGE_VOL_DELETE_NORMAL);
    } catch (err) {
      if (isNoStorageVol(err)) return false;
      throw storageFailure(err, `deleting volume ${file}`);
    }
    return true;
  }

  private async ensure(dir: string): Promise<StoragePool> {
    const client = await this.libvirt.client();
    try {
      let pool: StoragePool;
      try {
        // Only running pools answer (storagePoolLookupByTargetPath in libvirt's src/storage/storage_driver.c).
        pool = await client.storage.poolLookupByTargetPath(dir);
      } catch (err) {
        if (!isNoStoragePool(err)) throw err;
        // Refused by libvirt when an inactive pool of another name targets the directory: its message names that pool.
        pool = await client.storage.poolDefineXML(directoryPoolXml(dir));
      }
      const info = await client.storage.poolGetInfo(pool);
      if (info.state !== c.VIR_STORAGE_POOL_RUNNING) {
        await client.storage.poolCreate(pool).catch(async (err: unknown) => {
          // Another caller (another agent run, an operator) may have started it meanwhile.
          if ((await client.storage.poolGetInfo(pool)).state !== c.VIR_STORAGE_POOL_RUNNING) throw err;
        });
      }
      return pool;
    } catch (err) {
      throw storageFailure(err, `no libvirt storage pool can reach ${dir}`);
    }
  }
}
