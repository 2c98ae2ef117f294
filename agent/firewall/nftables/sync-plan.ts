/**
 * Pure diff between the table nft shows and the holes one family must hold:
 * the decision half of a reconcile, tested on literal `nft -j` output.
 *
 * A table of the right shape is changed element by element (a healthy host's
 * reconcile writes nothing); a table of any other shape is recreated whole in
 * one transaction, carrying over the other family's elements with the time
 * they have left, so that a sync of one family never opens or closes the
 * other's holes.
 */
import type { AddressFamily, Pinhole } from '../firewall.js';
import {
  buildElementsScript,
  buildRecreateScript,
  elementComment,
  elementsOf,
  type ElementKey,
  type ElementSpec,
  type TableLayout,
} from './script.js';
import type { FerryTable, ReadElement } from './table-reader.js';

/**
 * nft's JSON gives an element's time left in whole seconds (truncated), and a
 * hole's expiry is a whole second too: an element whose expiry is within this
 * much of the hole's is the hole's.
 */
export const EXPIRY_TOLERANCE_MS = 2000;

export interface NftSyncPlan {
  /** The script to run ('' when the table already holds exactly what it must). */
  script: string;
  /** The table was missing or misshapen and is recreated. */
  recreate: boolean;
  /** Ids of unexpired elements no live hole owns (a killed agent's, or a closed hole's). */
  staleIds: string[];
  /** Elements whose comment is not Ferry's (hand-added), removed. */
  unknownElements: number;
  /** Ids of elements no live hole owns whose time is up (the kernel already ignores them). */
  expiredIds: string[];
  /** Live holes whose elements were missing (or differed) and are written again. */
  restoredIds: string[];
}

export function planNftSync(
  table: FerryTable,
  family: AddressFamily,
  desired: readonly Pinhole[],
  layout: TableLayout,
  now: number,
): NftSyncPlan {
  const wanted = new Map(desired.map((p) => [p.id, p]));
  const stale = new Set<string>();
  const expired = new Set<string>();
  const complete = new Map<string, number>();
  const remove: ElementKey[] = [];
  let unknownElements = 0;
  const ours = table.elements.filter((e) => e.family === family);
  for (const e of ours) {
    const hole = e.owner ? wanted.get(e.owner.id) : undefined;
    if (hole && belongsTo(e, hole, now)) {
      complete.set(hole.id, (complete.get(hole.id) ?? 0) + 1);
      continue;
    }
    remove.push(e);
    if (!e.owner) unknownElements++;
    else if (e.expiresS <= 0) expired.add(e.owner.id);
    else stale.add(e.owner.id);
  }
  const restored = desired.filter((p) => complete.get(p.id) !== p.ports.length);
  // A hole with some of its elements missing is written again whole: remove the rest of it first.
  for (const p of restored) for (const e of ours) if (e.owner?.id === p.id && belongsTo(e, p, now)) remove.push(e);
  const add = restored.flatMap((p) => elementsOf(p, now));

  const recreate = table.problems.length > 0;
  let script: string;
  if (recreate) {
    // The other family's holes keep the time nft says they have left (its whole seconds: up to 1 s less).
    const others: ElementSpec[] = table.elements.flatMap((e) =>
      e.family !== family && e.owner && e.expiresS > 0 ? [{ ...e, comment: elementComment(e.owner), timeoutMs: e.expiresS * 1000 }] : [],
    );
    script = buildRecreateScript(layout, [...others, ...desired.flatMap((p) => elementsOf(p, now))]);
  } else {
    script = buildElementsScript(remove, add);
  }
  return {
    script,
    recreate,
    staleIds: [...stale],
    unknownElements,
    expiredIds: [...expired].filter((id) => !stale.has(id)),
    restoredIds: recreate ? desired.filter((p) => complete.get(p.id) !== p.ports.length).map((p) => p.id) : restored.map((p) => p.id),
  };
}

/** The element is one of the hole's: same owner, endpoints, one of its ports, the same expiry (within nft's resolution). */
export function belongsTo(e: ReadElement, p: Pinhole, now: number): boolean {
  return (
    e.owner?.id === p.id &&
    e.owner.vmId === p.vmId &&
    e.owner.jobId === p.jobId &&
    e.source === p.source &&
    e.destination === p.destination &&
    p.ports.includes(e.port) &&
    e.expiresS > 0 &&
    Math.abs(now + e.expiresS * 1000 - p.expiresAt) <= EXPIRY_TOLERANCE_MS
  );
}
