/**
 * The only code that executes nft: `nft -f -` to write (one script, one
 * transaction) and `nft -j list …` to read, as kube-proxy's nftables mode does
 * (KEP-3866). A failed script's error names the line nft points at.
 *
 * Scripts of set elements only (a pinhole opened or closed) go to a
 * long-lived `nft -i` session instead, as one line and so one transaction:
 * they are on a migration's critical path and nft's start-up costs ten times
 * their transaction. If that process cannot run, they take `nft -f -` too.
 */
import { FerryError } from '../../../shared/errors.js';
import { CommandNotFound, describeFailure, runCommand, type CommandResult } from '../command.js';
import { TABLE_FAMILY, TABLE_NAME } from './script.js';
import { NftSession } from './session.js';

/** What the backend needs of nft; unit tests replay a fake of it. */
export interface NftRunner {
  /** Run one script as one transaction. */
  apply(script: string): Promise<void>;
  /** `nft -j list table inet ferry`; undefined when the table does not exist. */
  listTable(): Promise<string | undefined>;
  /** `nft -j list ruleset`: every table of the host (the host-firewall check). */
  listRuleset(): Promise<string>;
}

export interface ExecNftRunnerOptions {
  /** The nft binary; default "nft" from PATH. */
  bin?: string;
  /** Kill a command that has not finished after this long. */
  timeoutMs?: number;
  /** Element changes through one long-lived `nft -i` (default true). */
  session?: boolean;
}

const ELEMENT_LINE = /^(add|delete) element /;

export class ExecNftRunner implements NftRunner {
  private readonly bin: string;
  private readonly timeoutMs: number;
  private readonly session: NftSession | undefined;

  constructor(options: ExecNftRunnerOptions = {}) {
    this.bin = options.bin ?? 'nft';
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.session = (options.session ?? true) ? new NftSession(this.bin) : undefined;
  }

  async apply(script: string): Promise<void> {
    if (script === '') return;
    const lines = script.trimEnd().split('\n');
    if (this.session && lines.every((l) => ELEMENT_LINE.test(l))) {
      let stderr: string | undefined;
      try {
        stderr = await this.session.run(lines.join('; '));
      } catch {
        // The session's process failed (it is started again next time): this change takes nft -f -.
      }
      if (stderr === '') return;
      if (stderr !== undefined) throw new FerryError('INTERNAL', `nft -i: ${stderr} [transaction: ${lines.join('; ')}]`);
    }
    const args = ['-f', '-'];
    const r = await this.run(args, script);
    if (r.code !== 0) throw new FerryError('INTERNAL', withScriptLine(describeFailure(this.bin, args, r), r.stderr, script));
    // A full write (start-up, reconcile) comes before the first pinhole: have the session ready by then.
    this.session?.warm();
  }

  /** End the nft session (tests; ferryd's exit ends it anyway). */
  close(): void {
    this.session?.close();
  }

  async listTable(): Promise<string | undefined> {
    const args = ['-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME];
    const r = await this.run(args, '');
    if (r.code !== 0 && /No such file or directory/.test(r.stderr)) return undefined;
    if (r.code !== 0) throw new FerryError('INTERNAL', describeFailure(this.bin, args, r));
    return r.stdout;
  }

  async listRuleset(): Promise<string> {
    const args = ['-j', 'list', 'ruleset'];
    const r = await this.run(args, '');
    if (r.code !== 0) throw new FerryError('INTERNAL', describeFailure(this.bin, args, r));
    return r.stdout;
  }

  private async run(args: string[], input: string): Promise<CommandResult> {
    try {
      return await runCommand(this.bin, args, input, this.timeoutMs);
    } catch (err) {
      if (err instanceof CommandNotFound) {
        throw new FerryError(
          'FAILED_PRECONDITION',
          `${this.bin} not found: install the nftables package, set "firewall.backend: iptables", or "none" if the operator manages this host's firewall`,
          {},
          { cause: err },
        );
      }
      throw new FerryError('INTERNAL', `cannot run ${this.bin}: ${(err as Error).message}`, {}, { cause: err });
    }
  }
}

/** nft reports "/dev/stdin:3:1-20: Error: …": add that line of the script. */
export function withScriptLine(message: string, stderr: string, script: string): string {
  const n = /:(\d+):\d+(?:-\d+)?: Error/.exec(stderr)?.[1];
  const line = n === undefined ? undefined : script.split('\n')[Number(n) - 1];
  return line === undefined ? message : `${message} [script line ${n}: ${line}]`;
}
