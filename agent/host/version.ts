/**
 * Ferry's version: the "version" of the package.json two levels above the
 * compiled file (the repository, or /opt/ferry once installed).
 */
import fs from 'node:fs';

let cached: string | undefined;

export function ferryVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      cached = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
