/**
 * The iptables backend: IPv4 through iptables, IPv6 through ip6tables, one
 * Ferry-owned chain per family in the filter table, every change one
 * `iptables-restore --noflush -w` transaction, state read with iptables-save.
 *
 * This file is the thin I/O half: it reads a dump, asks the pure planner what
 * to do, asks the pure builder for the payload and hands it to the runner.
 * Open and close are incremental (an insert costs the kernel ~2 ms; any rule
 * deletion waits for an RCU grace period, ~10-15 ms here); everything else is a
 * full rewrite of our chain.
 */
import { FerryError } from '../../../shared/errors.js';
import type { AddressFamily, Pinhole, PortRange } from '../firewall.js';
import { DEFAULT_PORT_RANGE } from '../firewall.js';
import { PinholeFirewall, type PinholeFirewallOptions } from '../pinhole-firewall.js';
import type { RuleWriter, SyncOutcome } from '../rule-writer.js';
import { validatePortRange } from '../port-allocator.js';
import { validFamilies } from '../firewall.js';
import { buildClosePayload, buildOpenPayload, buildSyncPayload, buildUninstallPayload, type ChainLayout } from './payload.js';
import { ExecIptablesRunner, FlushTables, type IptablesRunner } from './runner.js';
import { parseSave, SaveParseError } from './save-parser.js';
import { planChangesAnything, planSync } from './sync-plan.js';

export const DEFAULT_CHAIN = 'FERRY-MIGRATION';
const PARENT_CHAIN = 'INPUT';
const TABLE = 'filter';
const BUILTIN_CHAINS = new Set(['INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING']);

export interface IptablesWriterOptions {
  runner?: IptablesRunner;
  chain?: string;
  portRange?: PortRange;
  /** Families to close and manage; default both. */
  families?: readonly AddressFamily[];
}

export class IptablesRuleWriter implements RuleWriter {
  readonly backend = 'iptables' as const;
  readonly families: readonly AddressFamily[];
  readonly layout: ChainLayout;
  private readonly runner: IptablesRunner;

  constructor(options: IptablesWriterOptions = {}) {
    const chain = options.chain ?? DEFAULT_CHAIN;
    // iptables limits chain names to 28 characters; uninstall deletes the chain, so never a built-in one.
    if (!/^[A-Za-z0-9_-]{1,28}$/.test(chain) || BUILTIN_CHAINS.has(chain)) {
      throw new FerryError(
        'INVALID_ARGUMENT',
        `chain: ${JSON.stringify(chain)} must be 1-28 letters, digits, _ or - and not a built-in chain (default ${DEFAULT_CHAIN})`,
        { field: 'chain' },
      );
    }
    const portRange = options.portRange ?? DEFAULT_PORT_RANGE;
    validatePortRange(portRange, 'portRange');
    this.families = validFamilies(options.families);
    this.layout = { chain, parent: PARENT_CHAIN, portRange: { ...portRange } };
    this.runner = options.runner ?? new ExecIptablesRunner();
  }

  async sync(family: AddressFamily, desired: readonly Pinhole[], now: number): Promise<SyncOutcome> {
    try {
      const saved = await this.read(family);
      const plan = planSync(saved, desired, this.layout, now);
      const changed = planChangesAnything(plan);
      if (changed) {
        const payload = buildSyncPayload({
          layout: this.layout,
          pinholes: desired,
          jumpsToDelete: plan.jumpsToDelete,
          installJump: plan.installJump,
        });
        await this.runner.restore(family, payload, FlushTables.NoFlush);
      }
      return {
        staleIds: plan.staleIds,
        unknownRules: plan.unknownRules,
        expiredIds: plan.expiredIds,
        restoredIds: plan.restoredIds,
        jumpInstalled: plan.installJump,
        changed,
      };
    } catch (err) {
      throw withFamilyHint(family, err);
    }
  }

  add(p: Pinhole): Promise<void> {
    return this.runner.restore(p.family, buildOpenPayload(this.layout, p), FlushTables.NoFlush);
  }

  remove(p: Pinhole): Promise<void> {
    return this.runner.restore(p.family, buildClosePayload(this.layout, p), FlushTables.NoFlush);
  }

  async uninstall(family: AddressFamily): Promise<void> {
    const saved = await this.read(family);
    const payload = buildUninstallPayload(this.layout, saved.jumps, saved.chainExists);
    if (payload) await this.runner.restore(family, payload, FlushTables.NoFlush);
  }

  private async read(family: AddressFamily) {
    const text = await this.runner.save(family, TABLE);
    try {
      return parseSave(text, this.layout);
    } catch (err) {
      if (!(err instanceof SaveParseError)) throw err;
      throw new FerryError(
        'INTERNAL',
        `cannot parse ${family === 'ipv4' ? 'iptables' : 'ip6tables'}-save output: ${err.message}`,
        {},
        { cause: err },
      );
    }
  }
}

/** A host without IPv6 netfilter fails here first: say how to opt out. */
function withFamilyHint(family: AddressFamily, err: unknown): unknown {
  if (family !== 'ipv6' || !(err instanceof FerryError) || err.kind !== 'INTERNAL') return err;
  return new FerryError(
    'INTERNAL',
    `${err.message} (installing the IPv6 chain; if this host has no IPv6 migration network, set the firewall families to ["ipv4"])`,
    err.details,
    { cause: err },
  );
}

export type IptablesFirewallOptions = PinholeFirewallOptions & IptablesWriterOptions;

export function createIptablesFirewall(options: IptablesFirewallOptions = {}): PinholeFirewall {
  return new PinholeFirewall(new IptablesRuleWriter(options), options);
}
