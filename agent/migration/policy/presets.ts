/**
 * Named convergence presets (MigrationPolicy.preset, and the host's
 * policy.preset). A preset sets only what decides convergence: the initial
 * downtime, the schedule, and whether post-copy is allowed; bandwidth,
 * parallelism, encryption and the timeouts stay the host's or the caller's.
 * Explicit request fields override the preset.
 *
 * The steps come from oVirt's built-in migration policies (MigrationPolicies in
 * https://github.com/oVirt/ovirt-engine/blob/master/packaging/dbscripts/upgrade/pre_upgrade/0000_config.sql): the
 * downtime climbs 100 → 500 ms over the first passes, as in "Minimal
 * downtime"; each preset then ends with the one thing it is willing to do
 * when that is not enough. Iteration triggers scale with the guest: a pass
 * of a large VM takes longer, so its steps come later in wall-clock time.
 * These presets are also described in the README's presets table and in the
 * proto comment of MigrationPolicy.preset; keep all three in step.
 */
import type { ConvergenceStep, MigrationPolicy } from '../types.js';

export type PresetFields = Pick<MigrationPolicy, 'initialDowntimeMs' | 'schedule' | 'postCopy'>;

const downtime = (after: number, downtimeMs: number): ConvergenceStep => ({
  trigger: { kind: 'iteration', after },
  action: 'set-downtime',
  downtimeMs,
});
const then = (after: number, action: ConvergenceStep['action']): ConvergenceStep => ({ trigger: { kind: 'iteration', after }, action });

/** The oVirt ramp every preset starts with: 150 ms after the first pass … 500 ms after the fourth. */
const RAMP: readonly ConvergenceStep[] = [downtime(1, 150), downtime(2, 200), downtime(3, 300), downtime(4, 500)];

export const PRESETS: Readonly<Record<string, Readonly<PresetFields>>> = Object.freeze({
  // Never pause the guest for long: give up (the VM stays on the source)
  // rather than exceed 500 ms.
  'minimal-downtime': { initialDowntimeMs: 100, postCopy: false, schedule: [...RAMP, then(8, 'abort')] },
  // Always finish, with a short pause: when the ramp is not enough, the guest
  // moves to the destination and pulls the rest of its memory from there.
  // A network failure during post-copy loses the guest (libvirt cannot roll
  // it back), which is why it is not the default.
  'post-copy-when-stalled': { initialDowntimeMs: 100, postCopy: true, schedule: [...RAMP, then(6, 'post-copy')] },
  // Always finish without post-copy's risk: when the ramp and a 1 s downtime
  // are not enough, pause the guest so its memory stops changing; the copy
  // then completes and the guest resumes on the destination. The pause lasts
  // as long as the last copy (seconds for gigabytes of dirty memory).
  'suspend-when-stalled': { initialDowntimeMs: 100, postCopy: false, schedule: [...RAMP, downtime(6, 1000), then(8, 'suspend')] },
});

export const PRESET_NAMES: readonly string[] = Object.keys(PRESETS);

export function presetFields(name: string): Readonly<PresetFields> | undefined {
  return Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
}
