/**
 * Run one firewall command with its input on stdin and collect what it says.
 * A missing binary is reported as such (spawn's ENOENT), everything else as
 * the command's own exit status and stderr, for the caller to judge.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class CommandNotFound extends Error {
  override readonly name = 'CommandNotFound';
  constructor(readonly bin: string) {
    super(`${bin} not found`);
  }
}

export function runCommand(bin: string, args: readonly string[], input: string, timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT' ? new CommandNotFound(bin) : err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // EPIPE if the command exits before reading everything: its exit status says why.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** "nft -f - failed (exit 1): Error: …" */
export function describeFailure(bin: string, args: readonly string[], r: CommandResult): string {
  const status = r.signal ? `signal ${r.signal}` : `exit ${r.code}`;
  return `${[bin, ...args].join(' ')} failed (${status}): ${r.stderr.trim() || '(no stderr)'}`;
}
