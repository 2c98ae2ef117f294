/**
 * One long-lived `nft -i` process for the changes that must be fast (a
 * pinhole's elements added or deleted): starting nft costs more than its
 * transaction (loading its libraries and reading the ruleset, ~10 ms on a busy
 * host, against ~1 ms for the netlink batch), and an open or close is on a
 * migration's critical path.
 *
 * In interactive mode nft reads one line, runs it as one transaction (all its
 * ";"-separated commands or none) and reports errors on stderr. stdout is not
 * used: stdio buffers it when it is a pipe. To know when a line is done, each
 * is followed by a command that fails in a known way (listing a table that
 * does not exist, named after the request); stderr is written unbuffered and
 * in order, so whatever stderr says before that marker's error is the line's.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

const MARKER_TABLE = 'ferry-done-';
/**
 * A line nft has not answered by then ends the session (killed): its change
 * and those queued behind it take `nft -f -`, which has its own deadline.
 * Generous against the ~1 ms a line takes, so only a stuck process trips it.
 */
export const SESSION_LINE_TIMEOUT_MS = 2000;

interface Pending {
  tag: string;
  resolve: (stderr: string) => void;
  reject: (err: Error) => void;
}

export class NftSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private stderr = '';
  private readonly pending: Pending[] = [];
  private next = 1;

  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly bin = 'nft',
    private readonly lineTimeoutMs = SESSION_LINE_TIMEOUT_MS,
  ) {}

  /**
   * Run one line as one transaction; resolves with what nft wrote to stderr
   * for it ('' = success). Rejects only when the process itself fails (not
   * installed, died): the caller then runs the change another way.
   */
  run(line: string): Promise<string> {
    if (line.includes('\n')) return Promise.reject(new Error('an nft session line must be one line'));
    const child = this.process();
    const tag = `${MARKER_TABLE}${this.next++}`;
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) this.hold(child, true);
      this.pending.push({ tag, resolve, reject });
      this.armDeadline(child);
      child.stdin.write(`${line}\nlist table inet ${tag}\n`);
    });
  }

  /** Start the process now, so that the first pinhole does not pay for it. */
  warm(): void {
    this.process();
  }

  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }

  private process(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn(this.bin, ['-i'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.stderr = '';
    child.stdout.resume(); // never read: nft's stdout is block-buffered in a pipe
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.settle();
    });
    const fail = (err: Error) => {
      if (this.child === child) this.child = undefined;
      this.clearDeadline();
      for (const p of this.pending.splice(0)) p.reject(err);
    };
    child.once('error', fail);
    child.once('exit', (code, signal) =>
      fail(new Error(`nft -i exited (${signal ?? code})${this.stderr ? `: ${this.stderr.trim()}` : ''}`)),
    );
    child.stdin.on('error', () => undefined);
    this.hold(child, false);
    return child;
  }

  /** An idle session must not keep the process alive; one with a line in flight must. */
  private hold(child: ChildProcessWithoutNullStreams, busy: boolean): void {
    for (const h of [child, child.stdin, child.stdout, child.stderr] as unknown as { ref?: () => void; unref?: () => void }[]) {
      if (busy) h.ref?.();
      else h.unref?.();
    }
  }

  /** The oldest line in flight must be answered within lineTimeoutMs, or the process is killed (and its lines fail). */
  private armDeadline(child: ChildProcessWithoutNullStreams): void {
    if (this.deadline) return;
    this.deadline = setTimeout(() => {
      this.deadline = undefined;
      child.kill('SIGKILL');
    }, this.lineTimeoutMs);
  }

  private clearDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
  }

  /** Hand each finished line its own stderr: everything before its marker's error. */
  private settle(): void {
    for (;;) {
      const p = this.pending[0];
      if (!p) return;
      const at = this.stderr.indexOf(`list table inet ${p.tag}\n`);
      if (at < 0) return;
      const caretEnd = this.stderr.indexOf('\n', at + p.tag.length + 17);
      if (caretEnd < 0) return; // the marker's caret line is still on its way
      const markerError = this.stderr.lastIndexOf('Error:', at);
      const own = this.stderr.slice(0, markerError < 0 ? at : markerError);
      this.stderr = this.stderr.slice(caretEnd + 1);
      this.pending.shift();
      this.clearDeadline();
      if (this.pending.length > 0 && this.child) this.armDeadline(this.child);
      if (this.pending.length === 0 && this.child) this.hold(this.child, false);
      p.resolve(own.trim());
    }
  }
}
