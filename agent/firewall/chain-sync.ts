/**
 * Which families' chains are known to hold exactly the open holes, and the
 * way back when they may not: a family is fully synced on first use, and an
 * incremental change that fails is retried as a full rewrite of the family's
 * chain (kube-proxy's "fail toward a full resync"). Apart from
 * pinhole-firewall.ts so that the record of holes and the state of the
 * host's chains stay two things.
 */
import { FerryError, errorMessage } from '../../shared/errors.js';
import type { AddressFamily, Pinhole } from './firewall.js';
import type { RuleWriter, SyncOutcome } from './rule-writer.js';

export class ChainSync {
  /** Families whose chain has been fully synced since start-up or the last failure. */
  private readonly synced = new Set<AddressFamily>();

  constructor(
    private readonly writer: RuleWriter,
    private readonly now: () => number,
    private readonly log: { warn(message: string, meta?: Record<string, unknown>): void },
  ) {}

  /** Full sync on first use of a family, and after any failure left it unknown; `live`: the holes the chain must hold. */
  async ensureSynced(family: AddressFamily, live: () => readonly Pinhole[]): Promise<void> {
    if (this.synced.has(family)) return;
    await this.writer.sync(family, live(), this.now());
    this.synced.add(family);
  }

  /** A full sync asked for (reconcile): the family counts as synced once it succeeded. */
  async sync(family: AddressFamily, desired: readonly Pinhole[], now: number): Promise<SyncOutcome> {
    this.synced.delete(family);
    const outcome = await this.writer.sync(family, desired, now);
    this.synced.add(family);
    return outcome;
  }

  /** Run an incremental change; if it fails, rewrite the family's chain as `desired`. */
  async apply(family: AddressFamily, change: () => Promise<void>, desired: Pinhole[]): Promise<void> {
    try {
      await change();
      return;
    } catch (err) {
      this.synced.delete(family);
      this.log.warn('incremental firewall change failed; rewriting the chain', { family, error: String(err) });
      try {
        await this.writer.sync(family, desired, this.now());
        this.synced.add(family);
      } catch (err2) {
        if (err2 instanceof FerryError && err2.kind !== 'INTERNAL') throw err2;
        throw new FerryError(
          'INTERNAL',
          `${errorMessage(err)}; the full rewrite that followed failed too: ${errorMessage(err2)}`,
          {},
          { cause: err2 },
        );
      }
    }
  }

  /** Nothing is known synced any more (uninstall). */
  clear(): void {
    this.synced.clear();
  }
}
