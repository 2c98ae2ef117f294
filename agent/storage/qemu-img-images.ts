/**
 * The DiskImages port with qemu-img: the destination's side of copy_storage.
 * libvirt's NBD copy writes into an image that must already exist at the
 * source's path (libvirt pre-creates one only when the path lies in a
 * storage pool), so PrepareIncoming creates it here: same path, format and
 * virtual size, and for an incremental copy the same backing image.
 *
 * A peer names the path, so the agent guards it: only under the configured
 * storage.image_directories, never over an existing file (libvirt would
 * mirror into it and destroy what it holds), and never twice at once.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { FerryError, invalidArgument, errorMessage } from '../../shared/errors.js';
import type { DiskImageSpec, DiskImages, ImageSite } from '../migration/index.js';

const FORMATS = new Set(['qcow2', 'raw']);

/** Runs qemu-img with these arguments; rejects with its stderr. */
export type QemuImgRunner = (args: readonly string[]) => Promise<void>;

export interface QemuImgImagesOptions {
  /** Absolute directories images may be created under (storage.image_directories). */
  directories: readonly string[];
  run?: QemuImgRunner;
}

export class QemuImgImages implements DiskImages {
  private readonly directories: string[];
  private readonly run: QemuImgRunner;
  /** Paths being created right now: two prepares must not both pass the existence check. */
  private readonly inFlight = new Set<string>();

  constructor(options: QemuImgImagesOptions) {
    this.directories = options.directories.map((d) => path.resolve(d));
    this.run = options.run ?? runQemuImg;
  }

  async create(specs: readonly DiskImageSpec[]): Promise<string[]> {
    for (const [i, spec] of specs.entries()) this.check(spec, i);
    const paths = specs.map((s) => path.resolve(s.path));
    if (new Set(paths).size !== paths.length) throw invalidArgument('disks', 'name one image path twice');
    const busy = paths.filter((p) => this.inFlight.has(p));
    if (busy.length > 0)
      throw new FerryError('ALREADY_EXISTS', `disks: ${busy.join(', ')} is being created for another incoming migration`, {
        field: 'disks',
        reason: 'FILE_EXISTS',
      });
    for (const p of paths) this.inFlight.add(p);
    const created: string[] = [];
    try {
      for (const [i, spec] of specs.entries()) {
        await this.checkOnDisk(spec, i);
        await this.run(createArgs(spec));
        created.push(path.resolve(spec.path));
      }
      return created;
    } catch (err) {
      await this.remove(created);
      throw err instanceof FerryError
        ? err
        : new FerryError('FAILED_PRECONDITION', `creating the disk images failed: ${errorMessage(err)}`, {
            field: 'disks',
            reason: 'STORAGE_FAILED',
          });
    } finally {
      for (const p of paths) this.inFlight.delete(p);
    }
  }

  async survey(specs: readonly DiskImageSpec[]): Promise<ImageSite[]> {
    return Promise.all(
      specs.map(async (spec): Promise<ImageSite> => {
        const [exists, backingExists, room] = await Promise.all([
          present(spec.path, lstat),
          spec.backingPath ? present(spec.backingPath, stat) : true,
          roomFor(path.dirname(path.resolve(spec.path))),
        ]);
        return { path: spec.path, allowed: this.allowed(spec.path), exists, backingExists, ...room };
      }),
    );
  }

  async remove(paths: readonly string[]): Promise<void> {
    // Only paths this adapter could have created (a check against a confused caller).
    await Promise.all(paths.filter((p) => this.allowed(p)).map((p) => rm(p, { force: true })));
  }

  private check(spec: DiskImageSpec, i: number): void {
    const field = `disks[${i}]`;
    if (!path.isAbsolute(spec.path) || spec.path.includes('\0'))
      throw invalidArgument(`${field}.path`, `"${spec.path}" is not an absolute path`);
    if (!this.allowed(spec.path)) {
      throw new FerryError(
        'PERMISSION_DENIED',
        `${field}.path: ${spec.path} is outside this host's storage.image_directories (${this.directories.join(', ') || 'none'}): ` +
          'add its directory there, or use shared storage and copy_storage none',
        { field: `${field}.path`, reason: 'PATH_NOT_ALLOWED' },
      );
    }
    if (!FORMATS.has(spec.format))
      throw invalidArgument(`${field}.format`, `"${spec.format}" is not supported; copy_storage creates qcow2 or raw images`);
    if (!Number.isSafeInteger(spec.capacityBytes) || spec.capacityBytes <= 0)
      throw invalidArgument(`${field}.capacity_bytes`, `must be positive, got ${spec.capacityBytes}`);
    if (spec.backingPath && (!spec.backingFormat || !FORMATS.has(spec.backingFormat))) {
      throw invalidArgument(`${field}.backing_format`, `"${spec.backingFormat ?? ''}" is not a supported backing format (qcow2, raw)`);
    }
  }

  private async checkOnDisk(spec: DiskImageSpec, i: number): Promise<void> {
    const field = `disks[${i}]`;
    if (
      await lstat(spec.path).then(
        () => true,
        () => false,
      )
    ) {
      throw new FerryError(
        'ALREADY_EXISTS',
        `${field}.path: ${spec.path} already exists on the destination; copying would overwrite it: remove it, or use copy_storage none if the storage is shared`,
        { field: `${field}.path`, reason: 'FILE_EXISTS' },
      );
    }
    // The directory is inside an allowed one (check()), so creating it is creating storage the operator allowed.
    const dir = path.dirname(spec.path);
    await mkdir(dir, { recursive: true, mode: 0o755 }).catch(() => undefined);
    if (
      !(await stat(dir).then(
        (s) => s.isDirectory(),
        () => false,
      ))
    ) {
      throw new FerryError('FAILED_PRECONDITION', `${field}.path: directory ${dir} cannot be created on the destination`, {
        field: `${field}.path`,
        reason: 'STORAGE_FAILED',
      });
    }
    if (
      spec.backingPath &&
      !(await stat(spec.backingPath).then(
        () => true,
        () => false,
      ))
    ) {
      throw new FerryError(
        'FAILED_PRECONDITION',
        `${field}.backing_path: ${spec.backingPath} does not exist on the destination; an incremental copy needs the backing image on shared storage (or use copy_storage all)`,
        { field: `${field}.backing_path`, reason: 'STORAGE_FAILED' },
      );
    }
  }

  private allowed(file: string): boolean {
    const resolved = path.resolve(file);
    return this.directories.some((dir) => {
      const rel = path.relative(dir, resolved);
      return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    });
  }
}

async function present(file: string, look: (p: string) => Promise<unknown>): Promise<boolean> {
  return look(file).then(
    () => true,
    () => false,
  );
}

/**
 * The filesystem an image in `dir` lands on, and its free space for the
 * agent: create() makes missing directories, so it is that of the nearest
 * one that exists.
 */
async function roomFor(dir: string): Promise<{ filesystem: string; freeBytes: number }> {
  for (let at = dir; ; at = path.dirname(at)) {
    const found = await stat(at).catch(() => undefined);
    if (found?.isDirectory()) {
      const fs = await statfs(at);
      return { filesystem: String(found.dev), freeBytes: fs.bavail * fs.bsize };
    }
    if (path.dirname(at) === at) return { filesystem: '', freeBytes: 0 };
  }
}

export function createArgs(spec: DiskImageSpec): string[] {
  // qemu-img create needs the backing file's format with -b; check() requires both together.
  const backing = spec.backingPath && spec.backingFormat ? ['-b', spec.backingPath, '-F', spec.backingFormat] : [];
  return ['create', '-q', '-f', spec.format, ...backing, spec.path, String(spec.capacityBytes)];
}

function runQemuImg(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('qemu-img', [...args], { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`qemu-img ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}
