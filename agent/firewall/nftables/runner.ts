/**
 * The only code that executes nft: `nft -f -` to write (one script, one
 * transaction) and `nft -j list …` to read, as kube-proxy's nftables mode does
 * (KEP-3866). A failed script's error names the line nft points at.
 */
import { FerryError } from '../../../shared/errors.js';
import { CommandNotFound, describeFailure, runCommand, type CommandResult } from '../command.js';
import { TABLE_FAMILY, TABLE_NAME } from './script.js';

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
}

export class ExecNftRunner implements NftRunner {
  private readonly bin: string;
  private readonly timeoutMs: number;

  constructor(options: ExecNftRunnerOptions = {}) {
    this.bin = options.bin ?? 'nft';
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async apply(script: string): Promise<void> {
    if (script === '') return;
    const args = ['-f', '-'];
    const r = await this.run(args, script);
    if (r.code !== 0) throw new FerryError('INTERNAL', withScriptLine(describeFailure(this.bin, args, r), r.stderr, script));
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
