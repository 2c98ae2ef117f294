// Runs the real ferryctl binary (dist/agent/cli/ferryctl.js) as a child
// process, the way an operator does, and collects its exit status and output.
// Spawned asynchronously: the agent it talks to may live in the test's own
// process. The environment is the caller's PATH and HOME only (no FERRY_*
// from the lab leaking in), plus what the test gives.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './lab.js';

export const FERRYCTL = path.join(REPO_ROOT, 'dist/agent/cli/ferryctl.js');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function ferryctl(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRYCTL, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', FERRY_LAB_DIR: '/nonexistent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
