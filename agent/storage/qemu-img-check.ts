/**
 * `qemu-img check` of an arrived qcow2 volume: the checksum says the bytes
 * are the source's, this says they make an image QEMU can open. Exit codes
 * (qemu-img's documentation, https://www.qemu.org/docs/master/tools/qemu-img.html):
 * 0 consistent, 1 the check could not run (an unreadable header is one),
 * 2 corrupted, 3 leaked clusters only, 63 a format without checks. Leaked
 * clusters waste space and harm nothing, and the source had them too: they pass.
 */
import { execFile } from 'node:child_process';

/** Resolves when the image passed; rejects with qemu-img's own words. */
export type ImageCheck = (file: string, format: string) => Promise<void>;

const PASSING_EXIT_CODES = new Set([0, 3]);
/** qemu-img's words go into a message and an ABORT frame's reason (at most 1024 bytes): keep their end, where the verdict is. */
const MAX_WORDS = 600;

export const qemuImgCheck: ImageCheck = (file, format) =>
  new Promise((resolve, reject) => {
    execFile('qemu-img', ['check', '-f', format, file], { timeout: 600_000 }, (err, stdout, stderr) => {
      if (!err) return resolve();
      const code = typeof err.code === 'number' ? err.code : null;
      if (code !== null && PASSING_EXIT_CODES.has(code)) return resolve();
      const words = `${stderr}\n${stdout}`.trim().replace(/\s*\n\s*/g, '; ') || err.message;
      const tail = words.length > MAX_WORDS ? `…${words.slice(-MAX_WORDS)}` : words;
      reject(new Error(`qemu-img check -f ${format} ${file} failed (exit ${code ?? err.signal ?? 'unknown'}): ${tail}`));
    });
  });
