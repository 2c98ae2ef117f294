/**
 * Pure diff between what iptables-save shows and what the chain must hold: the
 * decision half of a reconcile, kept apart from the I/O so that it can be tested
 * on literal dumps. The chain is rewritten whole (one transaction) whenever it
 * differs in any way; it is left alone when it already matches, so a reconcile
 * of a healthy host writes nothing.
 */
import type { Pinhole } from '../firewall.js';
import { jumpRuleArgs, type ChainLayout } from './payload.js';
import type { SavedChain, SavedPinhole } from './save-parser.js';

export interface SyncPlan {
  /** The chain is missing or differs: declare (flush) it and write every rule. */
  rewriteChain: boolean;
  /** Jumps to delete (all of them, when there is not exactly one correct one). */
  jumpsToDelete: string[][];
  installJump: boolean;
  /** Pinhole rules no live pinhole owns (e.g. left by a killed agent), still unexpired. */
  staleIds: string[];
  /** Rules in our chain that are not ours in shape (hand-added, or corrupted). */
  unknownRules: number;
  /** Pinhole rules no live pinhole owns whose datestop has passed. */
  expiredIds: string[];
  /** Live pinholes whose rule is missing (or differs) and will be written again. */
  restoredIds: string[];
}

export function planSync(saved: SavedChain, desired: readonly Pinhole[], layout: ChainLayout, now: number): SyncPlan {
  const wanted = new Map(desired.map((p) => [p.id, p]));
  const present = new Set<string>();
  const plan: SyncPlan = {
    rewriteChain: false,
    jumpsToDelete: [],
    installJump: false,
    staleIds: [],
    unknownRules: 0,
    expiredIds: [],
    restoredIds: [],
  };
  let duplicates = 0;
  for (const rule of saved.rules) {
    if (rule.kind === 'unknown') plan.unknownRules++;
    if (rule.kind !== 'pinhole') continue;
    const want = wanted.get(rule.pinhole.id);
    if (want && samePinhole(rule.pinhole, want)) {
      if (present.has(want.id)) duplicates++;
      present.add(want.id);
    } else if (rule.pinhole.expiresAt <= now) {
      plan.expiredIds.push(rule.pinhole.id);
    } else {
      plan.staleIds.push(rule.pinhole.id);
    }
  }
  plan.restoredIds = desired.filter((p) => !present.has(p.id)).map((p) => p.id);

  const rules = saved.rules;
  const shapeOk =
    saved.chainExists &&
    rules.length === desired.length + 2 &&
    rules[0]?.kind === 'established' &&
    rules[rules.length - 1]?.kind === 'reject';
  plan.rewriteChain =
    !shapeOk || duplicates > 0 || plan.unknownRules > 0 || plan.staleIds.length + plan.expiredIds.length + plan.restoredIds.length > 0;

  const correct = jumpRuleArgs(layout);
  const isCorrect = (j: readonly string[]) => j.length === correct.length && j.every((a, i) => a === correct[i]);
  const onlyJump = saved.jumps.length === 1 ? saved.jumps[0] : undefined;
  if (!(onlyJump !== undefined && isCorrect(onlyJump))) {
    plan.jumpsToDelete = saved.jumps.map((j) => [...j]);
    plan.installJump = true;
  }
  return plan;
}

export function samePinhole(saved: SavedPinhole, p: Pinhole): boolean {
  return (
    saved.family === p.family &&
    saved.source === p.source &&
    saved.destination === p.destination &&
    saved.vmId === p.vmId &&
    saved.jobId === p.jobId &&
    saved.expiresAt === p.expiresAt &&
    saved.ports.length === p.ports.length &&
    saved.ports.every((port, i) => port === p.ports[i])
  );
}

export function planChangesAnything(plan: SyncPlan): boolean {
  return plan.rewriteChain || plan.installJump || plan.jumpsToDelete.length > 0;
}
