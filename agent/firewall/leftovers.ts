/**
 * Switching backends leaves the other backend's rules behind: an iptables
 * chain that still resets the migration range would refuse the connections
 * the nftables pinholes accept, and a stale `table inet ferry` would do the
 * same to the iptables ones. At every full sync (start-up, reconcile, the
 * fallback after a failed change) the backend in force first removes what the
 * others own; a host that never ran them has nothing to remove.
 */
import { errorMessage, FerryError } from '../../shared/errors.js';
import type { AddressFamily, FirewallBackendName, Pinhole } from './firewall.js';
import type { FirewallLogger } from './pinhole-firewall.js';
import type { RuleWriter, SyncOutcome } from './rule-writer.js';

/** The backends whose leftovers the one in force removes: every other one that writes rules. */
export function leftoverBackends(inForce: FirewallBackendName): FirewallBackendName[] {
  return (['iptables', 'nftables'] as const).filter((b) => b !== inForce);
}

/** Removes one backend's chain or table for one family; nothing when it is not there. */
export interface LeftoverRemover {
  readonly backend: FirewallBackendName;
  remove(family: AddressFamily): Promise<void>;
}

export class RemovingLeftovers implements RuleWriter {
  constructor(
    private readonly inner: RuleWriter,
    private readonly removers: readonly LeftoverRemover[],
    private readonly log: FirewallLogger,
  ) {}

  get backend(): FirewallBackendName {
    return this.inner.backend;
  }

  get families(): readonly AddressFamily[] {
    return this.inner.families;
  }

  async sync(family: AddressFamily, desired: readonly Pinhole[], now: number): Promise<SyncOutcome> {
    for (const r of this.removers) {
      try {
        await r.remove(family);
      } catch (err) {
        // The other backend's tool is not installed: it cannot have left anything.
        if (err instanceof FerryError && err.kind === 'FAILED_PRECONDITION') continue;
        this.log.warn(`could not remove what the ${r.backend} backend left`, { family, error: errorMessage(err) });
      }
    }
    return this.inner.sync(family, desired, now);
  }

  add(p: Pinhole): Promise<void> {
    return this.inner.add(p);
  }

  async addMany(holes: readonly Pinhole[]): Promise<void> {
    if (this.inner.addMany) return this.inner.addMany(holes);
    for (const hole of holes) await this.inner.add(hole);
  }

  remove(p: Pinhole): Promise<void> {
    return this.inner.remove(p);
  }

  uninstall(family: AddressFamily): Promise<void> {
    return this.inner.uninstall(family);
  }

  hostWarnings(): Promise<string[]> {
    return this.inner.hostWarnings?.() ?? Promise.resolve([]);
  }
}
