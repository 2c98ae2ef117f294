/**
 * `firewall: none`: for hosts whose firewall the operator manages. Ports are
 * still allocated (free, unreserved, unused) and holes are still recorded,
 * listed and expired, so the rest of the agent behaves the same; no rule is
 * ever written and the backend reports itself as "none", so that nobody takes
 * the recorded holes for protection.
 */
import type { AddressFamily, Pinhole } from './firewall.js';
import { PinholeFirewall, type PinholeFirewallOptions } from './pinhole-firewall.js';
import type { RuleWriter, SyncOutcome } from './rule-writer.js';

export class NoneRuleWriter implements RuleWriter {
  readonly backend = 'none' as const;
  readonly families: readonly AddressFamily[] = ['ipv4', 'ipv6'];

  async sync(_family: AddressFamily, _desired: readonly Pinhole[], _now: number): Promise<SyncOutcome> {
    return { staleIds: [], unknownRules: 0, expiredIds: [], restoredIds: [], jumpInstalled: false, changed: false };
  }

  async add(_p: Pinhole): Promise<void> {}

  async remove(_p: Pinhole): Promise<void> {}

  async uninstall(_family: AddressFamily): Promise<void> {}
}

export function createNoneFirewall(options: PinholeFirewallOptions = {}): PinholeFirewall {
  return new PinholeFirewall(new NoneRuleWriter(), options);
}
