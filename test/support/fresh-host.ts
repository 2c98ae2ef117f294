// A fresh hypervisor's file system, for running install steps as they are
// written on a machine that has other things installed: a private mount
// namespace (unshare -m) in which every directory the steps write to is a
// bind mount of an empty scratch directory. The steps name the real paths
// (/etc/ferry, /usr/local/bin…) and nothing of theirs reaches the machine's
// own. The same view can be entered from the machine (which reaches the npm
// registry) and from a lab host (which has a libvirtd and no route out):
// both bind the same scratch directories.
import { existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from './lab.js';

/** What scripts/install, ferry-pki and ferryd write on a hypervisor, with their default paths. */
export const FRESH_HOST_DIRECTORIES = [
  // /opt itself, not /opt/ferry: scripts/install swaps /opt/ferry by renaming it, and a mount point cannot be renamed.
  '/opt',
  '/usr/local/bin',
  '/usr/local/share/man',
  '/usr/share/bash-completion/completions',
  '/etc/ferry',
  '/etc/systemd/system',
  '/etc/pki',
  '/var/lib/ferry',
] as const;

export class FreshHost {
  /** Scratch: root/ holds the view's directories, shim/ comes first on the steps' PATH. */
  readonly dir = mkdtempSync(join(tmpdir(), 'ferry-fresh-host-'));
  readonly shimDir = join(this.dir, 'shim');
  private readonly madeMountPoints: string[] = [];
  private readonly enterScript = join(this.dir, 'enter.sh');

  constructor() {
    mkdirSync(this.shimDir);
    for (const target of FRESH_HOST_DIRECTORIES) {
      mkdirSync(this.path(target), { recursive: true });
      this.ensureMountPoint(target);
    }
    writeFileSync(this.enterScript, this.enterText(), { mode: 0o755 });
  }

  /** Where a path of the view is from outside it (/etc/ferry/pki/ca.pem → scratch/root/etc/ferry/pki/ca.pem). */
  path(viewPath: string): string {
    if (!FRESH_HOST_DIRECTORIES.some((d) => viewPath === d || viewPath.startsWith(`${d}/`))) {
      throw new Error(`${viewPath} is not in the fresh host's view (${FRESH_HOST_DIRECTORIES.join(', ')})`);
    }
    return join(this.dir, 'root', viewPath);
  }

  /**
   * argv that runs a shell script with `bash -ex` inside the view (cwd: the
   * repository), in the namespaces it is started in: `unshare` from here,
   * `scripts/lab exec HOST …argv` in a lab host.
   */
  commandFor(name: string, script: string): [string, ...string[]] {
    const file = join(this.dir, name);
    writeFileSync(file, script);
    return ['unshare', '--mount', '--propagation', 'private', 'bash', this.enterScript, file];
  }

  /** Removes the scratch directory and the mount points made for it (the views end with their processes). */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
    for (const made of this.madeMountPoints.reverse()) {
      try {
        rmdirSync(made);
      } catch {
        // in use again, or no longer empty: not ours to remove then
      }
    }
  }

  /** A bind mount needs its target: made on the machine if missing, removed again by dispose(). */
  private ensureMountPoint(target: string): void {
    const missing: string[] = [];
    for (let d = target; !existsSync(d); d = dirname(d)) missing.unshift(d);
    for (const d of missing) {
      mkdirSync(d);
      this.madeMountPoints.push(d);
    }
  }

  private enterText(): string {
    const binds = FRESH_HOST_DIRECTORIES.map((d) => `mount --bind '${this.path(d)}' '${d}'`).join('\n');
    return `#!/bin/bash
# Enters the fresh-host view (test/support/fresh-host.ts) and runs the script $1 in it.
set -euo pipefail
${binds}
# A fresh host has no Ferry settings in its environment (the caller may have
# FERRY_CA from \`scripts/lab env\`, or FERRY_PREFIX).
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^FERRY_' || true)
export PATH='${this.shimDir}':$PATH
cd '${REPO_ROOT}'
exec bash -ex "$1"
`;
  }
}
