/**
 * The nftables backend: Ferry's own `table inet ferry`, a pinhole is one set
 * element per port with its own timeout (the kernel closes it at expiry), every
 * change one `nft -f -` transaction, state read with `nft -j`.
 *
 * This file is the thin I/O half: it reads the table, asks the pure planner
 * what to write (sync-plan.ts) or the pure builder (script.ts) and hands the
 * script to the runner. Opening and closing a hole only add or delete set
 * elements: no rule changes, so no chain is rewritten and nothing waits for
 * the rule-deletion grace period the iptables backend pays.
 */
import { FerryError } from '../../../shared/errors.js';
import type { AddressFamily, Pinhole, PortRange } from '../firewall.js';
import { DEFAULT_PORT_RANGE } from '../firewall.js';
import { PinholeFirewall, type PinholeFirewallOptions } from '../pinhole-firewall.js';
import type { RuleWriter, SyncOutcome } from '../rule-writer.js';
import { validatePortRange } from '../port-allocator.js';
import { validFamilies } from '../firewall.js';
import { blockingChainWarning, findBlockingInputChains } from './host-input.js';
import { ExecNftRunner, type NftRunner } from './runner.js';
import { buildCloseScript, buildDeleteTableScript, buildOpenScript, DEFAULT_PINHOLE_MARK, type TableLayout } from './script.js';
import { planNftSync } from './sync-plan.js';
import { NftJsonError, readFerryTable, type FerryTable } from './table-reader.js';

export interface NftablesWriterOptions {
  runner?: NftRunner;
  portRange?: PortRange;
  /** Families to manage; default both. */
  families?: readonly AddressFamily[];
  /** The connection-mark bit(s) a pinhole's connection gets; default 0x00800000. */
  mark?: number;
  /** Wall clock (epoch ms): element timeouts count from it. */
  now?: () => number;
}

export class NftablesRuleWriter implements RuleWriter {
  readonly backend = 'nftables' as const;
  readonly families: readonly AddressFamily[];
  readonly layout: TableLayout;
  private readonly runner: NftRunner;
  private readonly now: () => number;

  constructor(options: NftablesWriterOptions = {}) {
    const portRange = options.portRange ?? DEFAULT_PORT_RANGE;
    validatePortRange(portRange, 'portRange');
    this.families = validFamilies(options.families);
    const mark = options.mark ?? DEFAULT_PINHOLE_MARK;
    if (!(Number.isInteger(mark) && mark > 0 && mark <= 0xffffffff)) {
      throw new FerryError('INVALID_ARGUMENT', `mark: ${JSON.stringify(mark)} must be a non-zero 32-bit connection mark, e.g. 0x00800000`, {
        field: 'mark',
      });
    }
    this.layout = { portRange: { ...portRange }, mark };
    this.runner = options.runner ?? new ExecNftRunner();
    this.now = options.now ?? Date.now;
  }

  async sync(family: AddressFamily, desired: readonly Pinhole[], now: number): Promise<SyncOutcome> {
    const plan = planNftSync(await this.read(), family, desired, this.layout, now);
    await this.runner.apply(plan.script);
    return {
      staleIds: plan.staleIds,
      unknownRules: plan.unknownElements,
      expiredIds: plan.expiredIds,
      restoredIds: plan.restoredIds,
      jumpInstalled: plan.recreate,
      changed: plan.script !== '',
    };
  }

  add(p: Pinhole): Promise<void> {
    return this.runner.apply(buildOpenScript([p], this.now()));
  }

  addMany(holes: readonly Pinhole[]): Promise<void> {
    return this.runner.apply(buildOpenScript(holes, this.now()));
  }

  remove(p: Pinhole): Promise<void> {
    return this.runner.apply(buildCloseScript([p]));
  }

  /** The table holds both families: the first call deletes it, the second finds nothing. */
  async uninstall(_family: AddressFamily): Promise<void> {
    if ((await this.runner.listTable()) !== undefined) await this.runner.apply(buildDeleteTableScript());
  }

  /** Input chains of other tables that would drop the pinholes' connections, each with the rule that fixes it. */
  async hostWarnings(): Promise<string[]> {
    const ruleset = await this.runner.listRuleset();
    try {
      return findBlockingInputChains(ruleset, this.layout).map((b) => blockingChainWarning(b, this.layout));
    } catch (err) {
      if (!(err instanceof NftJsonError)) throw err;
      return [`cannot read the host's nftables ruleset (nft -j list ruleset): ${err.message}`];
    }
  }

  private async read(): Promise<FerryTable> {
    const text = await this.runner.listTable();
    try {
      return readFerryTable(text, this.layout);
    } catch (err) {
      if (!(err instanceof NftJsonError)) throw err;
      throw new FerryError('INTERNAL', `cannot parse nft -j list table inet ferry: ${err.message}`, {}, { cause: err });
    }
  }
}

export type NftablesFirewallOptions = PinholeFirewallOptions & NftablesWriterOptions;

export function createNftablesFirewall(options: NftablesFirewallOptions = {}): PinholeFirewall {
  return new PinholeFirewall(new NftablesRuleWriter(options), options);
}
