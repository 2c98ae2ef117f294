// Policy resolution: host defaults, presets, explicit fields, compression
// with multifd, and the checks on a schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS as CONFIG_PRESETS } from '../../agent/config/fields.js';
import {
  BASELINE_FEATURES,
  BUILTIN_DEFAULTS,
  DEFAULT_POST_COPY_AFTER_ITERATION,
  resolvePolicy,
  type HostFeatures,
} from '../../agent/migration/policy/policy.js';
import { PRESET_NAMES, PRESETS } from '../../agent/migration/policy/presets.js';
import { validateSchedule } from '../../agent/migration/policy/schedule.js';
import type { ConvergenceStep } from '../../agent/migration/types.js';
import { isFerryError } from '../../shared/errors.js';
import { afterPasses as it, afterSeconds as secs } from '../support/migration-fixtures.js';

const NEW_LIBVIRT: HostFeatures = {
  multifdCompression: true,
  postCopyWithParallel: false,
  versions: 'libvirt 10.0.0, QEMU 8.2.0',
  libvirtVersion: 10_000_000,
  qemuVersion: 8_002_000,
};
const OLD_LIBVIRT: HostFeatures = { ...BASELINE_FEATURES, versions: 'libvirt 9.0.0, QEMU 7.2.22' };

test("the config knows exactly the core's presets", () => {
  assert.deepEqual([...CONFIG_PRESETS], ['', ...PRESET_NAMES]);
});

test('every preset is a valid schedule ending in its one last resort', () => {
  for (const [name, preset] of Object.entries(PRESETS)) {
    validateSchedule(preset.schedule, preset.postCopy);
    const resolved = resolvePolicy({ preset: name });
    assert.equal(resolved.preset, name);
    assert.deepEqual(resolved.schedule, preset.schedule);
  }
  assert.equal(PRESETS['minimal-downtime']!.schedule.at(-1)!.action, 'abort');
  assert.equal(PRESETS['post-copy-when-stalled']!.schedule.at(-1)!.action, 'post-copy');
  assert.equal(PRESETS['post-copy-when-stalled']!.postCopy, true);
  assert.equal(PRESETS['suspend-when-stalled']!.schedule.at(-1)!.action, 'suspend');
  // The downtime only ever climbs.
  for (const preset of Object.values(PRESETS)) {
    const downtimes = preset.schedule.filter((s) => s.action === 'set-downtime').map((s) => s.downtimeMs!);
    assert.deepEqual(
      downtimes,
      [...downtimes].sort((a, b) => a - b),
    );
    assert.ok(downtimes.every((d) => d > preset.initialDowntimeMs));
  }
});

test("order: host defaults, then the preset (request's over host's), then explicit fields", () => {
  const host = { ...BUILTIN_DEFAULTS, maxBandwidthMibps: 100, initialDowntimeMs: 300, preset: 'minimal-downtime' };
  const fromHostPreset = resolvePolicy({}, host);
  assert.equal(fromHostPreset.preset, 'minimal-downtime');
  assert.equal(fromHostPreset.initialDowntimeMs, 100);
  assert.equal(fromHostPreset.maxBandwidthMibps, 100); // not a preset field
  const requestPreset = resolvePolicy({ preset: 'post-copy-when-stalled' }, host);
  assert.equal(requestPreset.postCopy, true);
  assert.equal(requestPreset.schedule.at(-1)!.action, 'post-copy');
  const explicit = resolvePolicy({ preset: 'suspend-when-stalled', initialDowntimeMs: 50, schedule: [it(2, 'set-downtime', 4000)] }, host);
  assert.equal(explicit.initialDowntimeMs, 50);
  assert.deepEqual(explicit.schedule, [it(2, 'set-downtime', 4000)]);
  assert.throws(
    () => resolvePolicy({ preset: 'fastest' }),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /unknown preset "fastest".*minimal-downtime/.test(e.message),
  );
});

test("a preset's post-copy step without post_copy says where the schedule came from", () => {
  assert.throws(
    () => resolvePolicy({ preset: 'post-copy-when-stalled', postCopy: false }),
    (e) =>
      isFerryError(e, 'INVALID_ARGUMENT') &&
      /POST_COPY needs policy.post_copy/.test(e.message) &&
      /preset post-copy-when-stalled/.test(e.message),
  );
});

test("queue_timeout 0 means the host's default", () => {
  assert.equal(resolvePolicy({ queueTimeoutS: 0 }, { ...BUILTIN_DEFAULTS, queueTimeoutS: 90 }).queueTimeoutS, 90);
  assert.equal(resolvePolicy({ queueTimeoutS: 30 }).queueTimeoutS, 30);
});

test('postcopy_recovery_timeout: unset takes the host default, 0 (only by hand) is kept, no preset sets it', () => {
  const host = { ...BUILTIN_DEFAULTS, postcopyRecoveryTimeoutS: 90 };
  assert.equal(resolvePolicy({}, host).postcopyRecoveryTimeoutS, 90);
  assert.equal(resolvePolicy({ postcopyRecoveryTimeoutS: 0 }, host).postcopyRecoveryTimeoutS, 0);
  assert.equal(resolvePolicy({ postcopyRecoveryTimeoutS: 30 }, host).postcopyRecoveryTimeoutS, 30);
  assert.equal(resolvePolicy({ preset: 'post-copy-when-stalled' }, host).postcopyRecoveryTimeoutS, 90);
  assert.equal(resolvePolicy({}).postcopyRecoveryTimeoutS, 600, 'the built-in default');
});

test('multifd always gets an explicit compression method: zstd where libvirt has one, none where it has not', () => {
  assert.equal(resolvePolicy({ parallelConnections: 4 }, BUILTIN_DEFAULTS, NEW_LIBVIRT).compression, 'zstd');
  assert.equal(resolvePolicy({ parallelConnections: 4, compression: 'zlib' }, BUILTIN_DEFAULTS, NEW_LIBVIRT).compression, 'zlib');
  assert.equal(resolvePolicy({ parallelConnections: 4 }, BUILTIN_DEFAULTS, OLD_LIBVIRT).compression, 'none');
  // A host default of xbzrle is not carried into a parallel migration.
  assert.equal(resolvePolicy({ parallelConnections: 4 }, { ...BUILTIN_DEFAULTS, compression: 'xbzrle' }, NEW_LIBVIRT).compression, 'zstd');
  assert.throws(
    () => resolvePolicy({ parallelConnections: 4, compression: 'zstd' }, BUILTIN_DEFAULTS, OLD_LIBVIRT),
    (e) => isFerryError(e, 'FAILED_PRECONDITION') && /libvirt >= 9\.4\.0 \(this host: libvirt 9\.0\.0/.test(e.message),
  );
  assert.throws(
    () => resolvePolicy({ parallelConnections: 4, compression: 'xbzrle' }, BUILTIN_DEFAULTS, NEW_LIBVIRT),
    (e) => isFerryError(e, 'INVALID_ARGUMENT'),
  );
  assert.throws(
    () => resolvePolicy({ compression: 'zstd' }),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /parallel_connections > 1/.test(e.message),
  );
  assert.equal(resolvePolicy({ compression: 'xbzrle' }).compression, 'xbzrle');
});

test('post-copy with multifd needs a QEMU that can do both', () => {
  assert.throws(
    () => resolvePolicy({ parallelConnections: 2, postCopy: true }, BUILTIN_DEFAULTS, OLD_LIBVIRT),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /QEMU >= 10\.1/.test(e.message),
  );
  assert.equal(
    resolvePolicy({ parallelConnections: 2, postCopy: true }, BUILTIN_DEFAULTS, { ...NEW_LIBVIRT, postCopyWithParallel: true }).postCopy,
    true,
  );
});

test('schedule checks: triggers, downtime, post-copy allowed, nothing after abort or post-copy, order', () => {
  const refuse = (steps: ConvergenceStep[], pattern: RegExp, postCopy = true) =>
    assert.throws(
      () => validateSchedule(steps, postCopy),
      (e) => isFerryError(e, 'INVALID_ARGUMENT') && pattern.test(e.message),
      pattern.source,
    );
  refuse([it(0, 'abort')], /after_iteration must be from 1/);
  refuse([it(1, 'set-downtime')], /SET_DOWNTIME needs a downtime/);
  refuse([it(1, 'set-downtime', 700_000)], /downtime from 1 ms to 600000 ms, got 700000 ms/);
  refuse([it(1, 'abort', 500)], /downtime is for SET_DOWNTIME only/);
  refuse([it(3, 'post-copy')], /needs policy.post_copy: true/, false);
  refuse([it(3, 'abort'), it(4, 'set-downtime', 500)], /would never run/);
  refuse([it(3, 'post-copy'), secs(60, 'abort')], /would never run/);
  refuse([it(3, 'set-downtime', 500), it(2, 'set-downtime', 900)], /earlier than the step before it/);
  refuse(
    Array.from({ length: 33 }, (_, i) => it(i + 1, 'set-downtime', 100 + i)),
    /at most 32/,
  );
  // Mixed units are fine, each in order; suspend may be followed by more steps.
  validateSchedule([it(1, 'set-downtime', 200), secs(30, 'set-downtime', 1000), it(5, 'suspend'), secs(120, 'abort')], false);
});

test('post_copy alone switches: a POST_COPY step after the default number of passes is added, never a second one', () => {
  const alone = resolvePolicy({ postCopy: true });
  assert.deepEqual(alone.schedule, [it(DEFAULT_POST_COPY_AFTER_ITERATION, 'post-copy')]);
  // After the schedule's own iteration steps, so the order stays valid.
  const ramp = resolvePolicy({ postCopy: true, schedule: [it(2, 'set-downtime', 500), it(9, 'set-downtime', 900)] });
  assert.deepEqual(ramp.schedule.at(-1), it(9, 'post-copy'));
  assert.equal(ramp.schedule.length, 3);
  // A schedule with its own POST_COPY step (the preset's, or the caller's) is left alone.
  assert.deepEqual(resolvePolicy({ preset: 'post-copy-when-stalled' }).schedule, PRESETS['post-copy-when-stalled']!.schedule);
  assert.deepEqual(resolvePolicy({ postCopy: true, schedule: [secs(30, 'post-copy')] }).schedule, [secs(30, 'post-copy')]);
  // A schedule ending in ABORT or SUSPEND keeps its last resort: post_copy then allows the switch by hand only.
  assert.deepEqual(resolvePolicy({ postCopy: true, schedule: [it(8, 'abort')] }).schedule, [it(8, 'abort')]);
  assert.deepEqual(resolvePolicy({ preset: 'suspend-when-stalled', postCopy: true }).schedule.at(-1)?.action, 'suspend');
  // Without post_copy nothing is added.
  assert.deepEqual(resolvePolicy({}).schedule, []);
});
