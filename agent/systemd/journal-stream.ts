/**
 * Whether systemd connected our output to journald: JOURNAL_STREAM holds the
 * device and inode of that stream ("DEV:INO", systemd.exec(5)). It is
 * inherited by children whose output goes elsewhere (a shell redirect, a
 * pipe), so it counts only when it matches stdout or stderr themselves.
 */
import fs from 'node:fs';

export const STDOUT_AND_STDERR = [1, 2] as const;

export function outputGoesToJournal(env: NodeJS.ProcessEnv, fds: readonly number[] = STDOUT_AND_STDERR): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!match) return false;
  const [, dev, ino] = match;
  return fds.some((fd) => {
    try {
      // bigint: inode numbers can exceed 2^53.
      const stat = fs.fstatSync(fd, { bigint: true });
      return String(stat.dev) === dev && String(stat.ino) === ino;
    } catch {
      return false; // closed
    }
  });
}
