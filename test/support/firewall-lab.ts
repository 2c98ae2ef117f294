/**
 * Helpers for the firewall's lab tests: a client for test/support/firewall-driver
 * running inside a lab host, and iptables-save normalization.
 *
 * Roles (agreed with the libvirt work, which migrates lab1 -> lab2):
 * lab3 = destination (the agent + a QEMU stand-in), lab2 = source, lab1 = attacker.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { labSpawn, REPO_ROOT } from './lab.js';
import { sleep, until } from './wait.js';

export const DRIVER = 'dist/test/support/firewall-driver.js';
export const CHAIN = 'FERRY-MIGRATION';

export class DriverError extends Error {
  constructor(
    readonly kind: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(`${kind}: ${message}`);
  }
}

interface Reply {
  id?: number;
  ok?: boolean;
  result?: unknown;
  error?: { kind: string; message: string; details?: Record<string, unknown> };
  event?: string;
  pid?: number;
}

export class Driver {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private exited = false;
  /** The node process inside the host (labSpawn may interpose a wrapper). */
  pid = 0;

  private constructor(
    readonly host: string,
    readonly role: string,
    private readonly child: ChildProcess,
  ) {}

  static start(host: string, role: string): Promise<Driver> {
    return Driver.attach(labSpawn(host, ['node', DRIVER], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] }), host, role);
  }

  /** A driver already spawned some other way (e.g. in a private network namespace), stdio piped. */
  static async attach(child: ChildProcess, host: string, role: string): Promise<Driver> {
    const d = new Driver(host, role, child);
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (d.stderr += s));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${role} driver in ${host} not ready after 20 s; stderr: ${d.stderr}`)), 20_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${role} driver in ${host} exited (${code}) before ready; stderr: ${d.stderr}`));
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let msg: Reply;
        try {
          msg = JSON.parse(line) as Reply;
        } catch {
          return;
        }
        if (msg.event === 'ready') {
          d.pid = msg.pid!;
          clearTimeout(timer);
          resolve();
          return;
        }
        const p = d.pending.get(msg.id!);
        if (!p) return;
        d.pending.delete(msg.id!);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new DriverError(msg.error!.kind, msg.error!.message, msg.error!.details));
      });
    });
    child.once('exit', () => {
      d.exited = true;
      for (const p of d.pending.values()) p.reject(new Error(`${role} driver in ${host} exited; stderr: ${d.stderr}`));
      d.pending.clear();
    });
    await ready;
    return d;
  }

  request<T = unknown>(op: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.role} driver in ${this.host} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.role} driver: ${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Kill the node process itself (not a wrapper) and wait until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    try {
      process.kill(this.pid, signal);
    } catch {
      /* already gone */
    }
    await until(`${this.role} driver (pid ${this.pid}) to be gone after ${signal}`, () => !alive(this.pid), {
      timeoutMs: 10_000,
      everyMs: 20,
    });
    this.child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (this.exited || !alive(this.pid)) return;
    this.child.stdin!.end();
    const deadline = Date.now() + 5000;
    while (alive(this.pid) && Date.now() < deadline) await sleep(20);
    if (alive(this.pid)) await this.kill();
  }
}

function alive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface ConnectResult {
  outcome: 'connected' | 'refused' | 'timeout' | 'error';
  code?: string;
  elapsedMs: number;
  connId?: number;
}

/**
 * iptables-save without what a comparison must ignore: the "# Generated/Completed"
 * header lines and the packet/byte counters of chain declarations.
 */
export function normalizeSave(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => (l.startsWith(':') ? l.replace(/\s+\[\d+:\d+\]$/, '') : l));
}

/** The normalized dump minus everything Ferry owns (its chain and the jumps to it). */
export function withoutFerry(text: string, chain = CHAIN): string[] {
  return normalizeSave(text).filter((l) => l !== `:${chain} -` && !l.startsWith(`-A ${chain} `) && !l.endsWith(`-j ${chain}`));
}

/** Our chain's rules and the jumps to it, as printed. */
export function ferryLines(text: string, chain = CHAIN): { rules: string[]; jumps: string[]; declared: boolean } {
  const lines = normalizeSave(text);
  return {
    declared: lines.includes(`:${chain} -`),
    rules: lines.filter((l) => l.startsWith(`-A ${chain} `)),
    jumps: lines.filter((l) => l.endsWith(`-j ${chain}`)),
  };
}
