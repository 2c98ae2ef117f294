/**
 * What a firewall backend does to the host's rules (RuleWriter), and what a
 * full sync of one family's chain found. Apart from pinhole-firewall.ts, which
 * holds what every backend shares, because this is the contract each backend
 * (nftables/, iptables/, none-firewall.ts) implements.
 */
import type { AddressFamily, FirewallBackendName, Pinhole } from './firewall.js';

/** What one backend does to the host's rules. Called only from the queue. */
export interface RuleWriter {
  readonly backend: FirewallBackendName;
  /** Families whose migration ports this backend closes. */
  readonly families: readonly AddressFamily[];
  /** Make the family's chain and jump hold exactly `desired`. */
  sync(family: AddressFamily, desired: readonly Pinhole[], now: number): Promise<SyncOutcome>;
  add(p: Pinhole): Promise<void>;
  /** Several holes of one family in one transaction (opens that arrived together). */
  addMany?(holes: readonly Pinhole[]): Promise<void>;
  remove(p: Pinhole): Promise<void>;
  uninstall(family: AddressFamily): Promise<void>;
  /** What the host's own firewall does to the holes, when the backend can tell. */
  hostWarnings?(): Promise<string[]>;
}

export interface SyncOutcome {
  staleIds: string[];
  unknownRules: number;
  expiredIds: string[];
  restoredIds: string[];
  jumpInstalled: boolean;
  changed: boolean;
}
