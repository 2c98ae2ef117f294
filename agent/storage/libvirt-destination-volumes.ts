/**
 * The DestinationVolumes port over libvirt's storage pools: where a cold
 * migration's volumes land (volume-placement.ts), whether the filesystems
 * have room for what they hold, and their creation — empty, in their format
 * and virtual size — as volumes of the directory pool covering each
 * directory (directory-pools.ts), ready for virStorageVolUpload.
 *
 * A peer names the paths, so the agent guards them as the copy_storage
 * images are (qemu-img-images.ts): only under storage.image_directories,
 * never over an existing file, never the same path for two migrations at
 * once. place() creates nothing and so holds nothing; create() checks again
 * while it holds its paths, and libvirt refuses a volume name its pool has.
 */
import { lstat, mkdir, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../../shared/errors.js';
import type { ReconnectingClient } from '../libvirt/index.js';
import type { ColdVolume, DestinationVolumes, VolumePlacement } from '../migration/index.js';
import { DirectoryPools } from './directory-pools.js';
import { storageFailure } from './storage-errors.js';
import { volumeXml } from './storage-xml.js';
import { createdFormat, insideDirectories, planPlacements } from './volume-placement.js';

export interface LibvirtDestinationVolumesOptions {
  /** Absolute directories volumes may be created under (storage.image_directories); the first takes volumes from elsewhere. */
  directories: readonly string[];
}

export class LibvirtDestinationVolumes implements DestinationVolumes {
  private readonly directories: string[];
  private readonly pools: DirectoryPools;
  /** Paths being created right now: two prepares must not both pass the existence check. */
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly libvirt: ReconnectingClient,
    options: LibvirtDestinationVolumesOptions,
  ) {
    this.directories = options.directories.map((d) => path.resolve(d));
    this.pools = new DirectoryPools(libvirt);
  }

  async place(vmId: string, volumes: readonly ColdVolume[]): Promise<VolumePlacement[]> {
    const placements = planPlacements(vmId, volumes, this.directories);
    for (const [i, placement] of placements.entries()) {
      if (this.inFlight.has(placement.path)) throw this.busy(placement.path, `volumes[${i}].path`);
      await this.checkFree(placement, `volumes[${i}].path`);
    }
    await this.checkRoom(volumes, placements);
    return placements;
  }

  async create(volumes: readonly ColdVolume[], placements: readonly VolumePlacement[]): Promise<void> {
    const planned = placements.map((placement, i) => {
      const volume = volumes.find((v) => v.id === placement.id);
      const field = `volumes[${i}].path`;
      if (!volume) throw new FerryError('INVALID_ARGUMENT', `${field}: placement ${placement.id} has no volume`, { field });
      if (!insideDirectories(placement.path, this.directories)) {
        throw new FerryError('PERMISSION_DENIED', `${field}: ${placement.path} is outside storage.image_directories`, {
          field,
          reason: 'PATH_NOT_ALLOWED',
        });
      }
      return { volume, path: path.resolve(placement.path), field };
    });
    const busy = planned.filter((p) => this.inFlight.has(p.path));
    if (busy.length > 0) throw this.busy(busy[0]?.path ?? '', busy[0]?.field ?? 'volumes');
    for (const p of planned) this.inFlight.add(p.path);
    const created: string[] = [];
    try {
      for (const { volume, path: file, field } of planned) {
        await this.checkFree({ id: volume.id, sourcePath: volume.path, path: file }, field);
        const dir = path.dirname(file);
        // Inside an allowed directory (checked above): creating it is creating storage the operator allowed.
        await mkdir(dir, { recursive: true, mode: 0o755 });
        const pool = await this.pools.covering(dir);
        // libvirt's list of the pool's volumes may still name a file removed behind its back since its last scan.
        await this.pools.refresh(pool);
        const client = await this.libvirt.client();
        const xml = volumeXml(path.basename(file), createdFormat(volume.format) ?? volume.format, volume.capacityBytes);
        await client.storage.volCreateXML(pool, xml).catch((err: unknown) => {
          throw storageFailure(err, `creating volume ${volume.id} at ${file}`, field);
        });
        created.push(file);
      }
    } catch (err) {
      await this.remove(created).catch(() => undefined); // all or nothing; the first failure is the one to report
      throw storageFailure(err, 'creating the volumes');
    } finally {
      for (const p of planned) this.inFlight.delete(p.path);
    }
  }

  async remove(paths: readonly string[]): Promise<void> {
    // Only paths this adapter could have created (a check against a confused caller).
    for (const file of paths.filter((p) => insideDirectories(p, this.directories))) {
      if (!(await lstat(file).catch(() => null))) continue;
      await this.pools.deleteVolumeAt(path.resolve(file));
    }
  }

  private async checkFree(placement: VolumePlacement, field: string): Promise<void> {
    if (await lstat(placement.path).catch(() => null)) {
      throw new FerryError(
        'FAILED_PRECONDITION',
        `${placement.path} (volume ${placement.id}) already exists on the destination; copying would overwrite it: remove or move it first`,
        { field, reason: 'STORAGE_FAILED' },
      );
    }
  }

  private busy(file: string, field: string): FerryError {
    return new FerryError('FAILED_PRECONDITION', `${file} is being created for another incoming migration`, {
      field,
      reason: 'STORAGE_FAILED',
    });
  }

  /** What each filesystem must hold (the volumes' allocations: holes do not travel) against what it has free. */
  private async checkRoom(volumes: readonly ColdVolume[], placements: readonly VolumePlacement[]): Promise<void> {
    const needs = new Map<string, { at: string; freeBytes: number; needBytes: number; ids: string[] }>();
    for (const placement of placements) {
      const volume = volumes.find((v) => v.id === placement.id);
      if (!volume) continue;
      const room = await roomFor(path.dirname(placement.path));
      const need = needs.get(room.filesystem) ?? { at: room.at, freeBytes: room.freeBytes, needBytes: 0, ids: [] };
      need.needBytes += volume.allocationBytes;
      need.ids.push(volume.id);
      needs.set(room.filesystem, need);
    }
    for (const need of needs.values()) {
      if (need.needBytes > need.freeBytes) {
        throw new FerryError(
          'RESOURCE_EXHAUSTED',
          `the filesystem of ${need.at} has ${mib(need.freeBytes)} MiB free, but volumes ${need.ids.join(', ')} need ${mib(need.needBytes)} MiB: free space there or add a directory on another filesystem to storage.image_directories`,
          { reason: 'LIMIT_REACHED', field: 'volumes' },
        );
      }
    }
  }
}

const mib = (bytes: number) => Math.ceil(bytes / (1024 * 1024));

/** The filesystem a file in `dir` lands on (that of the nearest directory that exists: create() makes the rest), and its free space for the agent. */
async function roomFor(dir: string): Promise<{ filesystem: string; at: string; freeBytes: number }> {
  for (let at = dir; ; at = path.dirname(at)) {
    const found = await stat(at).catch(() => undefined);
    if (found?.isDirectory()) {
      const fs = await statfs(at);
      return { filesystem: String(found.dev), at, freeBytes: fs.bavail * fs.bsize };
    }
    if (path.dirname(at) === at) return { filesystem: '', at, freeBytes: 0 };
  }
}
