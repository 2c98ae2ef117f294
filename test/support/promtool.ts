// promtool (Debian's prometheus package, which scripts/setup installs):
// `check metrics` on a scrape, `check rules` on a rules file. A missing
// promtool fails the test that needs it, saying how to get it.
import { spawnSync } from 'node:child_process';

export interface PromtoolResult {
  ok: boolean;
  output: string;
}

export function promtool(args: string[], input?: string): PromtoolResult {
  const r = spawnSync('promtool', args, { input: input ?? '', encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(missing ? "promtool not found: run scripts/setup (it installs Debian's prometheus package)" : String(r.error));
  }
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}
