/**
 * The StoragePaths port on Linux: whether a path exists, and whether the
 * filesystem it is on is shared between hosts, told from the filesystem's
 * type (statfs). The list follows libvirt's own (virFileIsSharedFS and
 * virFileIsClusterFS in libvirt's src/util/virfile.c, with the magic numbers
 * of Linux's include/uapi/linux/magic.h and of each filesystem): libvirt
 * refuses to migrate a writable disk on any other filesystem unless it is
 * copied. FUSE carries GlusterFS and others as well as local filesystems,
 * so it is 'unknown' rather than guessed.
 */
import { stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { PathFacts, StoragePaths } from '../migration/index.js';

const SHARED: ReadonlyMap<number, string> = new Map([
  [0x6969, 'nfs'],
  [0x517b, 'smb'],
  [0xfe534d42, 'smb2'],
  [0xff534d42, 'cifs'],
  [0x01161970, 'gfs2'],
  [0x7461636f, 'ocfs2'],
  [0x5346414f, 'afs'],
  [0x00c36400, 'ceph'],
  [0x47504653, 'gpfs'],
  [0x51626d6f, 'quobyte'],
  [0x61636673, 'acfs'],
  [0x0bd00bd0, 'lustre'],
  [0x19830326, 'beegfs'],
]);

const FUSE = 0x65735546;

/** Local filesystems, for messages only (anything not shared is local). */
const LOCAL_NAMES: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlayfs'],
  [0x2fc12fc1, 'zfs'],
]);

export class LocalStoragePaths implements StoragePaths {
  async inspect(paths: readonly string[]): Promise<PathFacts[]> {
    return Promise.all(paths.map((p) => inspectOne(p)));
  }
}

async function inspectOne(file: string): Promise<PathFacts> {
  const exists = await present(file);
  // A path that does not exist is on the filesystem of its nearest existing directory.
  let at = file;
  while (!(await present(at)) && path.dirname(at) !== at) at = path.dirname(at);
  const type = await statfs(at).then(
    (fs) => fs.type >>> 0,
    () => undefined,
  );
  if (type === undefined) return { path: file, exists, storage: 'unknown', filesystem: 'unknown' };
  const shared = SHARED.get(type);
  if (shared) return { path: file, exists, storage: 'shared', filesystem: shared };
  if (type === FUSE) return { path: file, exists, storage: 'unknown', filesystem: 'fuse' };
  return { path: file, exists, storage: 'local', filesystem: LOCAL_NAMES.get(type) ?? `type 0x${type.toString(16)}` };
}

function present(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
