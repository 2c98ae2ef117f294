// The storage ports' stand-ins (DiskImages, StoragePaths, HibernationFiles):
// images, paths and files in memory.
import type { DiskImageSpec, DiskImages, HibernationFiles, ImageSite, PathFacts, StoragePaths } from '../../../agent/migration/ports.js';

export class FakeDiskImages implements DiskImages {
  created: string[] = [];
  removed: string[] = [];
  error: unknown;
  async create(specs: readonly DiskImageSpec[]): Promise<string[]> {
    if (this.error) throw this.error;
    const paths = specs.map((s) => s.path);
    this.created.push(...paths);
    return paths;
  }
  async remove(paths: readonly string[]): Promise<void> {
    this.removed.push(...paths);
  }
  /** Where each image would go: allowed, free and roomy unless a test says otherwise. */
  site: (spec: DiskImageSpec) => Partial<ImageSite> = () => ({});
  async survey(specs: readonly DiskImageSpec[]): Promise<ImageSite[]> {
    return specs.map((spec) => ({
      path: spec.path,
      allowed: true,
      exists: false,
      backingExists: true,
      filesystem: 'fs1',
      freeBytes: 100 * 2 ** 30,
      ...this.site(spec),
    }));
  }
}

/** Paths on a host: present, on local ext4, unless a test says otherwise. */
export class FakeStoragePaths implements StoragePaths {
  facts = new Map<string, Partial<PathFacts>>();
  inspected: string[] = [];
  async inspect(paths: readonly string[]): Promise<PathFacts[]> {
    this.inspected.push(...paths);
    return paths.map((path) => ({ path, exists: true, storage: 'local', filesystem: 'ext4', ...this.facts.get(path) }));
  }
}

/** Files in memory; directories are writable unless listed in readOnlyDirs. */
export class FakeHibernationFiles implements HibernationFiles {
  files = new Map<string, string>();
  readOnlyDirs = new Set<string>();
  /** Every write and remove, in order: "write /x", "remove /y". */
  log: string[] = [];
  async exists(path: string): Promise<boolean> {
    return this.files.has(path);
  }
  async canCreate(path: string): Promise<boolean> {
    return !this.readOnlyDirs.has(path.slice(0, path.lastIndexOf('/')) || '/');
  }
  async write(path: string, content: string): Promise<void> {
    this.log.push(`write ${path}`);
    this.files.set(path, content);
  }
  async read(path: string): Promise<string | undefined> {
    return this.files.get(path);
  }
  async remove(path: string): Promise<void> {
    this.log.push(`remove ${path}`);
    this.files.delete(path);
  }
}
