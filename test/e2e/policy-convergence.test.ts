// Convergence policies on the lab, lab3 → lab4, with the lab's dirtying guest that
// rewrites 256 MiB as fast as a 50 MiB/s link copies it: with libvirt's
// default downtime it never converges; the completion timeout, the stall
// timeout and the schedule's actions (raise the downtime, post-copy,
// suspend) each end it in a defined way, and ChangeMigrationParams switches
// to post-copy by hand.
import { test, before, after as afterAll, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { agent, closeAgents, domainState, pinholeRulesAfterJob, waitForStatus } from '../support/ferry.js';
import { destroyVm, ensureLab } from '../support/lab.js';
import { after, CAPPED_MIBPS, follow, migrate, seconds, startDirtyGuest, trail } from '../support/policy-lab.js';
import { protoTimeFromMs, msFromProtoTime } from '../../shared/proto-time.js';

const SRC = 'lab3';
const DST = 'lab4';
const VM = 'pol-conv';

before(async () => {
  await ensureLab(4);
});

afterEach(async () => {
  await destroyVm(SRC, VM);
});

afterAll(() => closeAgents());

async function assertStayedOnSource(): Promise<void> {
  assert.equal(await domainState(SRC, VM), 'running');
  assert.equal(await domainState(DST, VM), 'absent');
  assert.deepEqual(await pinholeRulesAfterJob(DST), []);
}

async function assertMovedToDestination(): Promise<void> {
  assert.equal(await domainState(DST, VM), 'running');
  assert.equal(await domainState(SRC, VM), 'absent');
  assert.deepEqual(await pinholeRulesAfterJob(DST), []);
}

test('with the default downtime it never converges: aborted at the completion timeout, the guest keeps running on the source', async () => {
  const uuid = await startDirtyGuest(SRC, VM);
  const { jobId } = await migrate(SRC, uuid, DST, {
    maxBandwidthMibps: CAPPED_MIBPS,
    completionTimeoutPerGib: protoTimeFromMs(30 * 1000),
    stallTimeout: protoTimeFromMs(0),
  });
  const { final } = await follow(SRC, jobId);
  assert.equal(final.phase, 'MIGRATION_PHASE_FAILED', JSON.stringify(final.error));
  assert.equal(final.error!.step, 'converge');
  assert.equal(final.error!.code, 'DEADLINE_EXCEEDED');
  // 512 MiB counts as the minimum of one GiB: 30 s.
  assert.match(final.error!.message, /completion timeout of 30 s \(30 s\/GiB × 1\.00 GiB\)/);
  assert.equal(seconds(final.completionTimeout), 30);
  assert.ok(final.iteration >= 4, `only ${final.iteration} iterations: it should have kept copying, not converging`);
  assert.equal(msFromProtoTime(final.maxDowntime), 300);
  assert.deepEqual(trail(final), ['ABORT (completion timeout)']);
  assert.equal(final.error!.vmState, 'VM_STATE_RUNNING');
  await assertStayedOnSource();
});

test('the downtime schedule makes it converge: COMPLETED once the allowed downtime covers the dirty memory', async () => {
  const uuid = await startDirtyGuest(SRC, VM);
  const schedule = [
    after({ iteration: 1 }, 'SET_DOWNTIME', 1000),
    after({ iteration: 2 }, 'SET_DOWNTIME', 3000),
    after({ iteration: 3 }, 'SET_DOWNTIME', 8000),
  ];
  const { jobId } = await migrate(SRC, uuid, DST, {
    maxBandwidthMibps: CAPPED_MIBPS,
    completionTimeoutPerGib: protoTimeFromMs(120 * 1000),
    schedule,
  });
  const { final } = await follow(SRC, jobId);
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.deepEqual(trail(final).slice(0, 3), [
    'SET_DOWNTIME 1000 (schedule step 1 (after iteration 1))',
    'SET_DOWNTIME 3000 (schedule step 2 (after iteration 2))',
    'SET_DOWNTIME 8000 (schedule step 3 (after iteration 3))',
  ]);
  assert.equal(msFromProtoTime(final.maxDowntime), 8000);
  // It converged only once 8 s were allowed (QEMU then expected ~5 s); the
  // pause measured is far shorter because QEMU lifts the bandwidth cap for
  // the final copy (seen here: ~200 ms).
  assert.ok(final.iteration >= 4, `completed at iteration ${final.iteration}, before the 8000 ms step`);
  assert.ok(
    msFromProtoTime(final.downtime) > 0 && msFromProtoTime(final.downtime) <= 8000,
    `downtime ${msFromProtoTime(final.downtime)} ms`,
  );
  assert.equal(final.policy!.schedule.length, 3);
  await assertMovedToDestination();
});

test('with post-copy allowed (preset post-copy-when-stalled, its schedule overridden) it switches to post-copy and completes', async () => {
  const uuid = await startDirtyGuest(SRC, VM);
  const { jobId } = await migrate(SRC, uuid, DST, {
    preset: 'post-copy-when-stalled',
    maxBandwidthMibps: CAPPED_MIBPS,
    completionTimeoutPerGib: protoTimeFromMs(120 * 1000),
    schedule: [after({ iteration: 2 }, 'POST_COPY')],
  });
  const { final, phases } = await follow(SRC, jobId);
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.deepEqual(phases.slice(-3), ['MIGRATION_PHASE_MIGRATING', 'MIGRATION_PHASE_POSTCOPY', 'MIGRATION_PHASE_COMPLETED']);
  assert.deepEqual(trail(final), ['POST_COPY (schedule step 1 (after iteration 2))']);
  assert.ok(
    msFromProtoTime(final.downtime) > 0 && msFromProtoTime(final.downtime) < 1000,
    `post-copy pauses the guest only to switch over: ${msFromProtoTime(final.downtime)} ms`,
  );
  assert.equal(final.policy!.preset, 'post-copy-when-stalled');
  assert.equal(final.policy!.postCopy, true); // from the preset
  assert.equal(msFromProtoTime(final.policy!.initialDowntime), 100); // from the preset too
  await assertMovedToDestination();
});

test('SUSPEND: the guest pauses, the copy completes, and it runs again on the destination', async () => {
  const uuid = await startDirtyGuest(SRC, VM);
  const { jobId } = await migrate(SRC, uuid, DST, {
    maxBandwidthMibps: CAPPED_MIBPS,
    completionTimeoutPerGib: protoTimeFromMs(120 * 1000),
    schedule: [after({ iteration: 2 }, 'SUSPEND')],
  });
  const { final } = await follow(SRC, jobId);
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.deepEqual(trail(final), ['SUSPEND (schedule step 1 (after iteration 2))']);
  await assertMovedToDestination(); // "running", not "paused"
});

test('stall timeout of the policy: a guest that dirties as fast as the link copies makes no progress and is aborted', async () => {
  const uuid = await startDirtyGuest(SRC, VM);
  const started = Date.now();
  const { jobId } = await migrate(SRC, uuid, DST, {
    maxBandwidthMibps: CAPPED_MIBPS,
    completionTimeoutPerGib: protoTimeFromMs(0),
    stallTimeout: protoTimeFromMs(10 * 1000),
  });
  const { final } = await follow(SRC, jobId);
  assert.equal(final.phase, 'MIGRATION_PHASE_FAILED', JSON.stringify(final.error));
  assert.equal(final.error!.step, 'converge');
  assert.equal(final.error!.code, 'DEADLINE_EXCEEDED');
  assert.match(final.error!.message, /^no progress for 1\d s .*stall_timeout 10 s/);
  assert.deepEqual(trail(final), ['ABORT (stall timeout)']);
  assert.equal(seconds(final.completionTimeout), 0);
  assert.ok(Date.now() - started < 90_000, `took ${Date.now() - started} ms`);
  await assertStayedOnSource();
});

test('ChangeMigrationParams for real: post-copy now, then a post-copy bandwidth; refused without post_copy in the policy', async () => {
  const uuid = await startDirtyGuest(SRC, VM);
  const { jobId } = await migrate(SRC, uuid, DST, {
    maxBandwidthMibps: CAPPED_MIBPS,
    postCopy: true,
    completionTimeoutPerGib: protoTimeFromMs(0),
    stallTimeout: protoTimeFromMs(0),
  });
  const progress = follow(SRC, jobId);
  await waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING' && s.iteration >= 2, 120_000);
  const { status } = await unary(agent(SRC).migration, 'ChangeMigrationParams', {
    job: { jobId },
    startPostCopy: true,
    maxDowntime: protoTimeFromMs(2000),
  });
  assert.equal(status!.phase, 'MIGRATION_PHASE_POSTCOPY');
  // In post-copy the bandwidth is QEMU's separate post-copy cap: accepted, not an error.
  await unary(agent(SRC).migration, 'ChangeMigrationParams', { job: { jobId }, maxBandwidthMibps: 200 }).catch((err: Error) => {
    // The copy may have finished in between; anything else is a failure.
    assert.match(err.message, /completed|parameters change only while it is migrating/);
  });
  const { final, phases } = await progress;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.ok(phases.includes('MIGRATION_PHASE_POSTCOPY'), phases.join(' '));
  assert.deepEqual(trail(final), ['SET_DOWNTIME 2000 (ChangeMigrationParams)', 'POST_COPY (ChangeMigrationParams)']);
  await assertMovedToDestination();

  // The same guest back, without post_copy: the switch is refused and nothing changes.
  const back = await migrate(DST, uuid, SRC, {
    maxBandwidthMibps: CAPPED_MIBPS,
    completionTimeoutPerGib: protoTimeFromMs(0),
    stallTimeout: protoTimeFromMs(0),
  });
  await waitForStatus(DST, back.jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING', 60_000);
  await assert.rejects(
    unary(agent(DST).migration, 'ChangeMigrationParams', { job: { jobId: back.jobId }, startPostCopy: true }),
    /FAILED_PRECONDITION|without post_copy/,
  );
  const { status: cancelled } = await unary(agent(DST).migration, 'CancelMigration', { job: { jobId: back.jobId } });
  assert.equal(cancelled!.phase, 'MIGRATION_PHASE_CANCELLED');
  await destroyVm(DST, VM);
});
