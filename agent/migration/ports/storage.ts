/**
 * The storage ports: the destination's disk images for copy_storage
 * (DiskImages), facts about paths and whether their filesystem is shared
 * (StoragePaths), and the files of a hibernation (HibernationFiles).
 */

/** An image to create on the destination: the source disk's path, format and size. */
export interface DiskImageSpec {
  target: string;
  path: string;
  format: string;
  capacityBytes: number;
  /** What the copy writes (the source image's allocation); known to checks, not needed to create. */
  allocationBytes?: number;
  /** Incremental copy: the overlay's backing image, which must exist on the destination. */
  backingPath?: string;
  backingFormat?: string;
}

/**
 * The destination's storage for copy_storage. libvirt copies a disk into an
 * image that exists at the same path (it pre-creates one only for images in
 * a storage pool), so the destination creates it first.
 */
export interface DiskImages {
  /**
   * Creates every image, all or nothing; refuses a path that exists (it
   * would be overwritten) or lies outside the directories allowed to it.
   * Resolves with the paths it created.
   */
  create(specs: readonly DiskImageSpec[]): Promise<string[]>;
  /** Removes images this host created for a migration that failed. */
  remove(paths: readonly string[]): Promise<void>;
  /** What create() would meet for each image, without creating anything. */
  survey(specs: readonly DiskImageSpec[]): Promise<ImageSite[]>;
}

/** Where create() would put one image, and what is there now. */
export interface ImageSite {
  path: string;
  /** Inside the directories this host allows images in. */
  allowed: boolean;
  /** Something exists at the path already. */
  exists: boolean;
  /** The backing image exists (true when the spec has none). */
  backingExists: boolean;
  /** Identifies the filesystem the image would land on: images with the same one share its free space. */
  filesystem: string;
  /** Free bytes there for the agent (0 when the directory cannot be created). */
  freeBytes: number;
}

/**
 * Facts about paths on this host: whether each exists, and whether its
 * filesystem is shared between hosts (NFS, CephFS, GlusterFS... what
 * libvirt's own migration safety check accepts) or local.
 */
export interface StoragePaths {
  inspect(paths: readonly string[]): Promise<PathFacts[]>;
}

export interface PathFacts {
  path: string;
  exists: boolean;
  /** 'unknown': a filesystem whose sharing cannot be told from its type (FUSE). */
  storage: 'shared' | 'local' | 'unknown';
  /** The filesystem's type, for messages, e.g. "nfs", "ext4". */
  filesystem: string;
}

/**
 * The files of a hibernation (mode FILE) on this host: libvirt's saved state
 * and Ferry's definition file beside it. What the files mean (which must not
 * be overwritten, what a definition holds) is the core's (hibernation.ts).
 */
export interface HibernationFiles {
  exists(path: string): Promise<boolean>;
  /** Whether path's directory exists and the agent may create files in it. */
  canCreate(path: string): Promise<boolean>;
  /** Writes the whole content durably, replacing any old file at once (never half written). */
  write(path: string, content: string): Promise<void>;
  /** The file's text; undefined when there is none (or it cannot be read). */
  read(path: string): Promise<string | undefined>;
  /** Removes the file if it is there. */
  remove(path: string): Promise<void>;
}
