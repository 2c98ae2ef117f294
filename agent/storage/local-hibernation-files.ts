/**
 * The HibernationFiles port on the local file system. The definition file is
 * written to a temporary name, flushed, then renamed over the target, so a
 * crash leaves either the old file or the whole new one.
 */
import { constants } from 'node:fs';
import { access, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { HibernationFiles } from '../migration/index.js';

export class LocalHibernationFiles implements HibernationFiles {
  async exists(file: string): Promise<boolean> {
    return access(file).then(
      () => true,
      () => false,
    );
  }

  async canCreate(file: string): Promise<boolean> {
    const dir = path.dirname(file);
    const isDir = await stat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    return (
      isDir &&
      (await access(dir, constants.W_OK).then(
        () => true,
        () => false,
      ))
    );
  }

  async write(file: string, content: string): Promise<void> {
    const temporary = `${file}.tmp-${process.pid}`;
    await writeFile(temporary, content, { mode: 0o600, flush: true });
    await rename(temporary, file);
  }

  async read(file: string): Promise<string | undefined> {
    return readFile(file, 'utf8').catch(() => undefined);
  }

  async remove(file: string): Promise<void> {
    await rm(file, { force: true });
  }
}
