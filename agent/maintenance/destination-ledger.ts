/**
 * Which destination a VM tries first: the one with the most free memory
 * left once the drain's own VMs are counted. Each destination's available
 * memory is asked once when the drain starts (or resumes after a restart);
 * every VM sent there since counts with its whole memory, in flight or
 * arrived, because an arriving guest's pages fill the destination's memory
 * as it runs on, not all at once: re-reading the destinations would see
 * little of a guest that just arrived and send the next ones after it. A
 * migration that fails gives its memory back. A destination whose memory
 * cannot be read, or that did not answer a VM's Migrate, comes last (its
 * checks still decide whether it takes a VM, so a destination back up still
 * serves).
 */
import { agentKey } from './request.js';
import type { DestinationMemory } from './ports.js';
import type { MaintenanceDestination } from './types.js';

export class DestinationLedger {
  /** Available memory when the drain started, by agentKey; absent when unknown. */
  private readonly baseline = new Map<string, number>();
  private readonly committed = new Map<string, number>();
  /** Did not answer in this drain: last, whatever its memory. */
  private readonly silent = new Set<string>();

  constructor(private readonly destinations: readonly MaintenanceDestination[]) {}

  /** Asks every destination at once; one that does not answer is unknown. */
  async measure(memory: DestinationMemory): Promise<void> {
    await Promise.all(
      this.destinations.map(async (d) => {
        const bytes = await memory.availableMemory(d.host).catch(() => undefined);
        if (bytes !== undefined) this.baseline.set(agentKey(d.host), bytes);
      }),
    );
  }

  /** A VM of this many bytes leaves for dst (its memory is no longer free there). */
  commit(dst: string, bytes: number): void {
    const key = agentKey(dst);
    this.committed.set(key, (this.committed.get(key) ?? 0) + bytes);
  }

  /** Its migration failed: the memory is free there again. */
  release(dst: string, bytes: number): void {
    const key = agentKey(dst);
    this.committed.set(key, Math.max(0, (this.committed.get(key) ?? 0) - bytes));
  }

  /** dst did not answer: it goes last from now on. */
  demote(dst: string): void {
    this.silent.add(agentKey(dst));
  }

  /** What is left free on dst for this drain; undefined when unknown. */
  free(dst: string): number | undefined {
    const key = agentKey(dst);
    const base = this.baseline.get(key);
    return base === undefined ? undefined : base - (this.committed.get(key) ?? 0);
  }

  /** The candidates, the most free memory first; unknown ones last; ties in the request's order. */
  order(candidates: readonly MaintenanceDestination[]): MaintenanceDestination[] {
    const position = new Map(this.destinations.map((d, i) => [agentKey(d.host), i]));
    const score = (d: MaintenanceDestination) =>
      this.silent.has(agentKey(d.host)) ? Number.NEGATIVE_INFINITY : (this.free(d.host) ?? Number.NEGATIVE_INFINITY);
    return [...candidates].sort(
      (a, b) => score(b) - score(a) || (position.get(agentKey(a.host)) ?? 0) - (position.get(agentKey(b.host)) ?? 0),
    );
  }
}
