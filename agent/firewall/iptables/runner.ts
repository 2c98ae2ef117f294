/**
 * The only code that executes iptables binaries: iptables-save to read,
 * iptables-restore to write (IPv4), and the ip6tables pair for IPv6.
 *
 * As kube-proxy does: options are named constants rather than bare booleans, the
 * xtables-lock wait flag is chosen by a one-time probe of the binary's version
 * (memoized per binary), and a failed command's stderr is part of the error,
 * with the payload line it points at.
 */
import { FerryError, errorMessage } from '../../../shared/errors.js';
import { CommandNotFound, type CommandResult, describeFailure, runCommand } from '../command.js';
import type { AddressFamily } from '../firewall.js';

/**
 * How iptables-restore treats the tables named in the payload. NoFlush leaves
 * every chain the payload does not declare alone (other software's rules);
 * declaring a chain (":NAME - [0:0]") still flushes that one chain.
 */
export const FlushTables = { Flush: 'flush', NoFlush: 'noflush' } as const;
export type FlushTables = (typeof FlushTables)[keyof typeof FlushTables];

/** The two operations the backend needs; the stateful fake implements the same. */
export interface IptablesRunner {
  /** iptables-save output for one table. */
  save(family: AddressFamily, table: string): Promise<string>;
  /** One atomic iptables-restore call with this payload. */
  restore(family: AddressFamily, payload: string, flush: FlushTables): Promise<void>;
}

export interface Binaries {
  save: string;
  restore: string;
}

export interface ExecRunnerOptions {
  /** Override the binaries (e.g. the iptables-legacy-* pair). */
  binaries?: Partial<Record<AddressFamily, Binaries>>;
  /** Seconds iptables-restore waits for the xtables lock (-w N). */
  waitSeconds?: number;
  /** Kill a command that has not finished after this long. */
  timeoutMs?: number;
}

const DEFAULT_BINARIES: Record<AddressFamily, Binaries> = {
  ipv4: { save: 'iptables-save', restore: 'iptables-restore' },
  ipv6: { save: 'ip6tables-save', restore: 'ip6tables-restore' },
};

/** iptables-restore learned -w/--wait in 1.6.2; older ones reject the flag. */
const RESTORE_WAIT_SINCE: readonly [number, number, number] = [1, 6, 2];

export class ExecIptablesRunner implements IptablesRunner {
  private readonly binaries: Record<AddressFamily, Binaries>;
  private readonly waitSeconds: number;
  private readonly timeoutMs: number;
  /** restore binary -> its wait flags, probed once. */
  private readonly waitFlags = new Map<string, Promise<string[]>>();

  constructor(options: ExecRunnerOptions = {}) {
    this.binaries = { ...DEFAULT_BINARIES, ...options.binaries };
    this.waitSeconds = options.waitSeconds ?? 5;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async save(family: AddressFamily, table: string): Promise<string> {
    const bin = this.binaries[family].save;
    const args = ['-t', table];
    const r = await run(bin, args, '', this.timeoutMs);
    if (r.code !== 0) throw commandFailed(bin, args, r);
    return r.stdout;
  }

  async restore(family: AddressFamily, payload: string, flush: FlushTables): Promise<void> {
    const bin = this.binaries[family].restore;
    const args = [...(flush === FlushTables.NoFlush ? ['--noflush'] : []), ...(await this.waitFlagsFor(bin))];
    const r = await run(bin, args, payload, this.timeoutMs);
    if (r.code !== 0) throw commandFailed(bin, args, r, payload);
  }

  /** The one-time probe: `iptables-restore --version`, then -w N if supported. */
  private waitFlagsFor(bin: string): Promise<string[]> {
    let flags = this.waitFlags.get(bin);
    if (!flags) {
      flags = run(bin, ['--version'], '', this.timeoutMs).then((r) => {
        if (r.code !== 0) throw commandFailed(bin, ['--version'], r);
        return supportsWait(r.stdout + r.stderr) ? ['-w', String(this.waitSeconds)] : [];
      });
      // A failed probe (binary missing) is retried next time rather than cached.
      flags.catch(() => this.waitFlags.delete(bin));
      this.waitFlags.set(bin, flags);
    }
    return flags;
  }
}

/** From "iptables-restore v1.8.9 (nf_tables)": does this version take -w? */
export function supportsWait(versionOutput: string): boolean {
  const m = /v(\d+)\.(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!m) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  const [sinceMajor, sinceMinor, sincePatch] = RESTORE_WAIT_SINCE;
  if (major !== sinceMajor) return major > sinceMajor;
  if (minor !== sinceMinor) return minor > sinceMinor;
  return patch >= sincePatch;
}

/** runCommand (../command.ts), with a missing binary or a failed spawn as the FerryError the firewall reports. */
async function run(bin: string, args: string[], input: string, timeoutMs: number): Promise<CommandResult> {
  try {
    return await runCommand(bin, args, input, timeoutMs);
  } catch (err) {
    if (err instanceof CommandNotFound) {
      throw new FerryError(
        'FAILED_PRECONDITION',
        `${bin} not found: install the iptables package, or set "firewall: none" if the operator manages this host's firewall`,
        {},
        { cause: err },
      );
    }
    throw new FerryError('INTERNAL', `cannot run ${bin}: ${errorMessage(err)}`, {}, { cause: err });
  }
}

function commandFailed(bin: string, args: string[], r: CommandResult, payload?: string): FerryError {
  let message = describeFailure(bin, args, r);
  // iptables-restore names the failing payload line ("line 3 failed", "Error occurred at line: 3").
  const m = /line:? (\d+)/.exec(r.stderr);
  if (payload !== undefined && m) {
    const line = payload.split('\n')[Number(m[1]) - 1];
    if (line !== undefined) message += ` [payload line ${m[1]}: ${line}]`;
  }
  return new FerryError('INTERNAL', message);
}
