// The pure convergence logic: schedule evaluation and its repeat, the
// completion-timeout arithmetic, the stall timeout, and the retry backoff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayMs, DEFAULT_BACKOFF } from '../../agent/migration/outgoing/backoff.js';
import { completionTimeoutMs, ConvergenceTracker, type Sample } from '../../agent/migration/convergence/convergence.js';
import { BUILTIN_DEFAULTS } from '../../agent/migration/policy/policy.js';
import { repeatInterval, ScheduleCursor } from '../../agent/migration/policy/schedule.js';
import type { MigrationPolicy } from '../../agent/migration/types.js';
import { afterPasses as it, afterSeconds as secs } from '../support/migration-fixtures.js';

const GIB = 1024 ** 3;

/** Feeds iterations 1..n (one sample each) and returns what fired, as "iteration:action[:repeat]". */
function run(cursor: ScheduleCursor, samples: Array<{ iteration: number; elapsedMs?: number }>): string[] {
  const fired: string[] = [];
  for (const s of samples) {
    const due = cursor.due({ iteration: s.iteration, elapsedMs: s.elapsedMs ?? 0 });
    if (due)
      fired.push(
        `${s.iteration}:${due.step.action}${due.step.downtimeMs ? ` ${due.step.downtimeMs}` : ''}${due.repeat ? ' (repeat)' : ''}`,
      );
  }
  return fired;
}
const iterations = (n: number) => Array.from({ length: n }, (_, i) => ({ iteration: i + 1 }));

test('"after iteration N" fires once N passes are complete (libvirt counts the pass in progress), in list order', () => {
  const cursor = new ScheduleCursor([it(1, 'set-downtime', 150), it(2, 'set-downtime', 300), it(4, 'abort')]);
  assert.deepEqual(run(cursor, iterations(5)), ['2:set-downtime 150', '3:set-downtime 300', '5:abort']);
});

test('an overdue list is worked through one step per sample', () => {
  const cursor = new ScheduleCursor([it(1, 'set-downtime', 150), it(2, 'set-downtime', 200), it(3, 'set-downtime', 300)]);
  // The first sample already sees iteration 7.
  assert.deepEqual(run(cursor, [{ iteration: 7 }, { iteration: 7 }, { iteration: 7 }, { iteration: 7 }]), [
    '7:set-downtime 150',
    '7:set-downtime 200',
    '7:set-downtime 300',
  ]);
});

test('the schedule never runs out: the last step repeats at its interval, one repeat per late sample', () => {
  const steps = [it(2, 'set-downtime', 200), it(5, 'suspend')];
  assert.equal(repeatInterval(steps), 3);
  const cursor = new ScheduleCursor(steps);
  assert.deepEqual(run(cursor, iterations(14)), ['3:set-downtime 200', '6:suspend', '9:suspend (repeat)', '12:suspend (repeat)']);
  // A sample that jumps far ahead issues one repeat, not a burst.
  assert.deepEqual(run(cursor, [{ iteration: 40 }, { iteration: 41 }, { iteration: 42 }]), ['40:suspend (repeat)', '42:suspend (repeat)']);
});

test('repeat interval: distance to the previous step of the same kind, else its own trigger; time steps repeat in seconds', () => {
  assert.equal(repeatInterval([it(4, 'abort')]), 4);
  assert.equal(repeatInterval([secs(30, 'set-downtime', 500), it(6, 'abort')]), 6);
  assert.equal(repeatInterval([it(3, 'set-downtime', 500), it(3, 'abort')]), 1);
  const cursor = new ScheduleCursor([secs(10, 'set-downtime', 400), secs(30, 'set-downtime', 900)]);
  const at = (s: number) => cursor.due({ iteration: 1, elapsedMs: s * 1000 })?.reason;
  assert.equal(at(9), undefined);
  assert.match(at(10)!, /step 1 \(after 10 s\)/);
  assert.equal(at(29), undefined);
  assert.match(at(30)!, /step 2 \(after 30 s\)/);
  assert.equal(at(49), undefined);
  assert.match(at(50)!, /step 2 repeated \(after 50 s\)/);
  assert.match(at(75)!, /repeated \(after 70 s\)/);
  assert.equal(at(89), undefined);
});

test('an empty schedule decides nothing', () => {
  assert.equal(new ScheduleCursor([]).due({ iteration: 100, elapsedMs: 1e9 }), undefined);
});

test('completion timeout: per GiB of memory plus copied disks, at least one GiB, 0 = none', () => {
  assert.equal(completionTimeoutMs(60, 4 * GIB, 0), 240_000);
  assert.equal(completionTimeoutMs(60, 2 * GIB, 6 * GIB), 480_000);
  assert.equal(completionTimeoutMs(60, 512 * 1024 ** 2, 0), 60_000); // 0.5 GiB counts as 1
  assert.equal(completionTimeoutMs(10, 1.5 * GIB, 0), 15_000);
  assert.equal(completionTimeoutMs(0, 64 * GIB, 0), 0);
});

function tracker(policy: Partial<MigrationPolicy>, completionMs = 0) {
  return new ConvergenceTracker({ ...BUILTIN_DEFAULTS, completionTimeoutSPerGib: 60, stallTimeoutS: 0, ...policy }, completionMs);
}
const sample = (elapsedS: number, remaining: number, extra: Partial<Sample> = {}): Sample => ({
  elapsedMs: elapsedS * 1000,
  iteration: 1,
  remaining,
  total: 1000,
  postcopy: false,
  ...extra,
});

test('the completion timeout fires once, with the arithmetic in its message, and never in post-copy', () => {
  const t = tracker({ completionTimeoutSPerGib: 60 }, 60_000);
  assert.equal(t.observe(sample(59.9, 100)), undefined);
  const d = t.observe(sample(60, 100));
  assert.equal(d?.kind, 'timeout');
  assert.ok(d?.kind === 'timeout' && d.timeout === 'completion' && d.error.kind === 'DEADLINE_EXCEEDED');
  assert.match(d.error.message, /completion timeout of 60 s \(60 s\/GiB × 1\.00 GiB\)/);
  assert.equal(t.observe(sample(61, 100)), undefined); // final
  const pc = tracker({}, 60_000);
  assert.equal(pc.observe(sample(120, 100, { postcopy: true })), undefined);
});

test('the completion timeout takes precedence over a step due at the same sample', () => {
  const t = tracker({ schedule: [secs(60, 'set-downtime', 5000)] }, 60_000);
  assert.equal(t.observe(sample(60, 100))?.kind, 'timeout');
});

test('stall: no new low of data remaining (by more than 4 %) for stall_timeout; progress resets it; counters of 0 do not count', () => {
  const t = tracker({ stallTimeoutS: 10 });
  assert.equal(t.observe(sample(0, 0, { total: 0 })), undefined); // no counters yet
  assert.equal(t.observe(sample(5, 1000)), undefined); // first low at 5 s
  assert.equal(t.observe(sample(10, 700)), undefined); // new low at 10 s
  assert.equal(t.observe(sample(15, 900)), undefined);
  assert.equal(t.observe(sample(19, 690)), undefined); // 1.4 % lower: noise, not progress
  const d = t.observe(sample(20, 800));
  assert.ok(d?.kind === 'timeout' && d.timeout === 'stall');
  assert.match(d.error.message, /no progress for 10 s/);
});

test('stall on a saw-tooth: passes that start with as much dirty memory as before are no progress, however much each one copies', () => {
  const t = tracker({ stallTimeoutS: 12 });
  const pass = (startS: number, iteration: number, start: number) => {
    // A 5 s pass polled every second: 50 MiB copied per second.
    for (let k = 0; k < 5; k++) {
      const d = t.observe(sample(startS + k, start - 50 * k, { iteration }));
      if (d) return d;
    }
    return undefined;
  };
  assert.equal(pass(0, 1, 500), undefined); // the bulk pass: progress all along
  assert.equal(pass(5, 2, 230), undefined); // far less than the bulk: progress
  assert.equal(pass(10, 3, 250), undefined); // not a new best: no progress since 9 s
  assert.equal(pass(15, 4, 224), undefined); // under 4 % below the best (230): noise
  const d = pass(20, 5, 240);
  assert.ok(d?.kind === 'timeout' && d.timeout === 'stall', JSON.stringify(d));
  assert.equal(d.error.message.startsWith('no progress for 12 s'), true, d.error.message);
});

test('no stall while the dirty set shrinks pass after pass, even with long passes', () => {
  const t = tracker({ stallTimeoutS: 10 });
  let at = 0;
  for (const [iteration, start] of [
    [1, 4000],
    [2, 3000],
    [3, 2000],
    [4, 1000],
  ] as const) {
    for (let k = 0; k < 20; k++) assert.equal(t.observe(sample(at++, start - k * (start / 20), { iteration, total: 4000 })), undefined);
  }
});

test('steps come from the schedule when no timeout is due, with their reasons', () => {
  const t = tracker({ schedule: [it(1, 'set-downtime', 500), it(2, 'suspend')] });
  assert.equal(t.observe(sample(1, 900, { iteration: 1 })), undefined);
  const a = t.observe(sample(2, 900, { iteration: 2 }));
  assert.ok(a?.kind === 'step' && a.due.step.action === 'set-downtime' && a.due.reason === 'schedule step 1 (after iteration 1)');
  const b = t.observe(sample(3, 900, { iteration: 3 }));
  assert.ok(b?.kind === 'step' && b.due.step.action === 'suspend');
});

test('backoff: doubles from 1 s to a 15 s cap, with ±20 % jitter', () => {
  const mid = () => 0.5;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 50].map((n) => backoffDelayMs(n, DEFAULT_BACKOFF, mid)),
    [1000, 2000, 4000, 8000, 15000, 15000, 15000],
  );
  assert.equal(
    backoffDelayMs(1, DEFAULT_BACKOFF, () => 0),
    800,
  );
  assert.equal(
    backoffDelayMs(1, DEFAULT_BACKOFF, () => 0.999999),
    1200,
  );
  assert.equal(
    backoffDelayMs(10, DEFAULT_BACKOFF, () => 0.999999),
    15000,
  ); // never above the cap
  for (let i = 0; i < 200; i++) {
    const d = backoffDelayMs(3);
    assert.ok(d >= 3200 && d <= 4800, String(d));
  }
});
