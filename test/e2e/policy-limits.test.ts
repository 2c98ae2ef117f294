// Per-host concurrency limits on the lab, changed at run time: the outgoing
// queue (lab3 → lab4), a destination at its incoming limit that sources
// retry (lab1 and lab3 → lab4), and a configuration reload by SIGHUP.
import { test, before, after as afterAll } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unary } from '../../shared/client.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import type { WatchMigrationResponse__Output } from '../../shared/generated/ferry/v1/WatchMigrationResponse.js';
import { agent, closeAgents, domainState, status, waitForStatus } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, readLabState } from '../support/lab.js';
import { until } from '../support/wait.js';
import { after, CAPPED_MIBPS, follow, migrate, startDirtyGuest } from '../support/policy-lab.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';

const QUEUED = ['pol-q1', 'pol-q2', 'pol-q3', 'pol-q4'];
const FROM_LAB1 = 'pol-in1';
const FROM_LAB3 = 'pol-in3';

before(async () => {
  await ensureLab(4);
});

afterAll(async () => {
  for (const name of [...QUEUED, FROM_LAB1, FROM_LAB3]) await destroyVm('lab3', name);
  closeAgents();
});

async function setLimits(host: string, limits: { maxOutgoing?: number; maxIncoming?: number }) {
  return unary(agent(host).migration, 'SetMigrationLimits', limits);
}

async function capabilitiesLimits(host: string) {
  return (await unary(agent(host).host, 'GetCapabilities', {})).limits!;
}

/** Follows a job and notes when (client clock) each phase was first streamed. */
function timeline(host: string, jobId: string) {
  const firstSeen = new Map<string, number>();
  const done = new Promise<{ final: MigrationProgress__Output }>((resolve, reject) => {
    let last: MigrationProgress__Output | undefined;
    const stream = agent(host).migration.WatchMigration({ job: { jobId } });
    stream.on('data', ({ status: p }: WatchMigrationResponse__Output) => {
      if (!p) return;
      if (!firstSeen.has(p.phase)) firstSeen.set(p.phase, Date.now());
      last = p;
    });
    stream.on('end', () => resolve({ final: last! }));
    stream.on('error', reject);
  });
  return { firstSeen, done };
}

test('outgoing limit 1, set at run time: one migration runs, the others wait QUEUED and complete in order; a cancelled one leaves the queue', async () => {
  const before = await capabilitiesLimits('lab3');
  try {
    assert.deepEqual(await setLimits('lab3', { maxOutgoing: 1 }), { maxOutgoing: 1, maxIncoming: before.maxIncoming });
    assert.equal((await capabilitiesLimits('lab3')).maxOutgoing, 1);
    const ids: string[] = [];
    for (const name of QUEUED) ids.push((await createVm('lab3', name)).uuid);
    const jobs: Array<{ jobId: string; phase: string }> = [];
    for (const id of ids) jobs.push(await migrate('lab3', id, 'lab4', {}));
    assert.deepEqual(
      jobs.map((j) => j.phase),
      ['MIGRATION_PHASE_PREPARING', 'MIGRATION_PHASE_QUEUED', 'MIGRATION_PHASE_QUEUED', 'MIGRATION_PHASE_QUEUED'],
    );
    const lines = jobs.map((j) => timeline('lab3', j.jobId));
    const queued = await status('lab3', jobs[3]!.jobId);
    assert.match(queued.waiting, /outgoing slots \(limits.max_outgoing\)/);
    const active = (await unary(agent('lab3').migration, 'ListMigrations', { activeOnly: true })).jobs.map((j) => j.jobId);
    for (const j of jobs) assert.ok(active.includes(j.jobId));

    const { status: cancelled } = await unary(agent('lab3').migration, 'CancelMigration', { job: { jobId: jobs[3]!.jobId } });
    assert.equal(cancelled!.phase, 'MIGRATION_PHASE_CANCELLED');
    assert.equal(cancelled!.error!.step, 'queue');
    const stillActive = (await unary(agent('lab3').migration, 'ListMigrations', { activeOnly: true })).jobs.map((j) => j.jobId);
    assert.ok(!stillActive.includes(jobs[3]!.jobId), 'the cancelled job left the queue');

    const finals: MigrationProgress__Output[] = [];
    for (const line of lines.slice(0, 3)) finals.push((await line.done).final);
    for (const f of finals) assert.equal(f.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(f.error));
    // In order, one at a time: each left QUEUED only after the one before had completed.
    const finishedAt = finals.map((f) => Number(f.finishedAt!.seconds) * 1000 + f.finishedAt!.nanos / 1e6);
    assert.deepEqual(
      [...finishedAt].sort((a, b) => a - b),
      finishedAt,
    );
    for (const k of [1, 2]) {
      const started = lines[k]!.firstSeen.get('MIGRATION_PHASE_MIGRATING')!;
      const previousDone = lines[k - 1]!.firstSeen.get('MIGRATION_PHASE_COMPLETED')!;
      assert.ok(started >= previousDone - 100, `job ${k + 1} migrated at ${started}, before job ${k} completed at ${previousDone}`);
    }
    for (const name of QUEUED.slice(0, 3)) assert.equal(await domainState('lab4', name), 'running');
    assert.equal(await domainState('lab3', QUEUED[3]!), 'running');
  } finally {
    await setLimits('lab3', { maxOutgoing: before.maxOutgoing });
  }
});

test('incoming limit 1 on lab4: lab1 gets the slot, lab3 is told RESOURCE_EXHAUSTED, waits QUEUED and retries until it completes', async () => {
  const before = await capabilitiesLimits('lab4');
  try {
    await setLimits('lab4', { maxIncoming: 1 });
    // lab1's migration holds lab4's only incoming slot for a while: a
    // dirtying guest that converges once the schedule allows 8 s of downtime.
    const slow = await startDirtyGuest('lab1', FROM_LAB1);
    const quick = (await createVm('lab3', FROM_LAB3)).uuid;
    const first = await migrate('lab1', slow, 'lab4', {
      maxBandwidthMibps: CAPPED_MIBPS,
      completionTimeoutPerGib: protoTimeFromMs(120 * 1000),
      schedule: [after({ iteration: 2 }, 'SET_DOWNTIME', 8000)],
    });
    const firstDone = follow('lab1', first.jobId);
    await waitForStatus('lab1', first.jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING', 60_000);

    const second = await migrate('lab3', quick, 'lab4', { queueTimeout: protoTimeFromMs(300 * 1000) });
    assert.equal(second.phase, 'MIGRATION_PHASE_QUEUED');
    const waiting = await status('lab3', second.jobId);
    assert.match(waiting.waiting, /destination 198\.18\.0\.4 is busy \(.*incoming limit.*\); attempt 2 in/);
    await until('a second PrepareIncoming', async () => (await status('lab3', second.jobId)).prepareAttempts >= 2, {
      timeoutMs: 30_000,
      everyMs: 250,
    });
    assert.equal(await domainState('lab4', FROM_LAB3), 'absent');

    const a = (await firstDone).final;
    assert.equal(a.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(a.error));
    const b = (await follow('lab3', second.jobId)).final;
    assert.equal(b.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(b.error));
    assert.ok(b.prepareAttempts >= 2, `prepare attempts ${b.prepareAttempts}`);
    assert.equal(await domainState('lab4', FROM_LAB1), 'running');
    assert.equal(await domainState('lab4', FROM_LAB3), 'running');
  } finally {
    await setLimits('lab4', { maxIncoming: before.maxIncoming });
  }
});

test("SetMigrationLimits refuses a limit out of range, and SIGHUP applies the file's limits.* again", async () => {
  await assert.rejects(setLimits('lab4', { maxIncoming: 0 }), /INVALID_ARGUMENT|max_incoming/);
  const lab4 = readLabState().hosts.find((h) => h.name === 'lab4')!;
  const file = join(lab4.dir, 'ferryd.yaml');
  const pid = Number((await readFile(join(lab4.dir, 'ferryd.pid'), 'utf8')).trim());
  const original = await readFile(file, 'utf8');
  try {
    await writeFile(file, `${original}\nlimits:\n  max_outgoing: 5\n  max_incoming: 7\n`);
    process.kill(pid, 'SIGHUP');
    await until(
      'limits from the reloaded file',
      async () => {
        const l = await capabilitiesLimits('lab4');
        return l.maxOutgoing === 5 && l.maxIncoming === 7;
      },
      { timeoutMs: 10_000, everyMs: 250 },
    );
    const log = await readFile(join(lab4.dir, 'ferryd.log'), 'utf8');
    assert.match(log, /SIGHUP: configuration reloaded/);
  } finally {
    await writeFile(file, original);
    process.kill(pid, 'SIGHUP');
    await until('limits back to the defaults', async () => (await capabilitiesLimits('lab4')).maxIncoming === 2, {
      timeoutMs: 10_000,
      everyMs: 250,
    });
  }
});
