// The agents restarted mid-migration, on the lab. A P2P migration runs in
// libvirtd, not in ferryd: a source agent that is killed (SIGKILL) or stopped
// (SIGTERM) and started again finds the job in its journal, reattaches to the
// libvirt job and reports the true outcome with libvirt's own counters. A
// destination agent restarted mid-migration takes back the pinhole of the
// job still running, and closes it when the source finishes.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { unary } from '../../shared/client.js';
import { createVm, destroyVm, ensureLab, labExec, readLabState } from '../support/lab.js';
import { until } from '../support/wait.js';
import {
  agent,
  closeAgents,
  domainState,
  ferryd,
  pinholeRules,
  pinholeRulesAfterJob,
  status,
  waitForStatus,
  watchToEnd,
} from '../support/ferry.js';
import { protoTimeFromMs, msFromProtoTime } from '../../shared/proto-time.js';

const VM = 'e2e-restart';

before(async () => {
  await ensureLab(2);
});

afterEach(async () => {
  await ferryd('start', 'lab1');
  await ferryd('start', 'lab2');
  for (const host of ['lab1', 'lab2']) await destroyVm(host, VM);
});

after(() => closeAgents());

function hostDir(host: string): string {
  return readLabState().hosts.find((h) => h.name === host)!.dir;
}

/** The job's record in the host agent's journal, as on disk. */
function journaled(host: string, jobId: string): { finished: boolean; data: { status: { phase: string } } } {
  return JSON.parse(readFileSync(path.join(hostDir(host), 'ferry', 'jobs', `${jobId}.json`), 'utf8'));
}

/** libvirt's own view on the source: is a migration job running for the guest? */
async function libvirtJobRunning(host: string): Promise<boolean> {
  const r = await labExec(host, ['virsh', '-c', 'qemu:///system', 'domjobinfo', VM], { allowFail: true });
  return /Job type:\s+(Unbounded|Bounded)/.test(r.stdout);
}

/** A migration that lasts (guest dirtying faster than the capped link copies) from lab1 to lab2. */
async function startSlowMigration(): Promise<{ uuid: string; jobId: string }> {
  const { uuid } = await createVm('lab1', VM, { memMiB: 384, dirtyMbps: 40 });
  const accepted = await unary(agent('lab1').migration, 'Migrate', {
    vmId: uuid,
    dst: '198.18.0.2',
    dstqemu: '198.19.0.2',
    policy: { maxBandwidthMibps: 8 },
  });
  await waitForStatus(
    'lab1',
    accepted.jobId,
    (s) => s.phase === 'MIGRATION_PHASE_MIGRATING' && s.data !== null && s.data.processedBytes > 0,
  );
  return { uuid, jobId: accepted.jobId };
}

/** After the restart: let the copy converge, follow it to the end on the new agent. */
async function convergeAndFinish(jobId: string) {
  const reattached = await waitForStatus('lab1', jobId, (s) => s.warnings.some((w) => /reattached/.test(w)), 30_000);
  assert.equal(reattached.phase, 'MIGRATION_PHASE_MIGRATING');
  const progress = watchToEnd('lab1', jobId);
  // The reattached job takes parameter changes like any other.
  await unary(agent('lab1').migration, 'ChangeMigrationParams', {
    job: { jobId },
    maxBandwidthMibps: 400,
    maxDowntime: protoTimeFromMs(2000),
  });
  const seen = await progress;
  return { seen, final: seen.at(-1)! };
}

async function assertCompletedWithLibvirtCounters(jobId: string, uuid: string) {
  const final = await status('lab1', jobId);
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', final.error?.message);
  assert.equal(final.vmId, uuid);
  assert.equal(final.progressPercent, 100);
  // libvirt's final statistics (the JOB_COMPLETED event), not a guess: the
  // whole guest memory counted, data copied beyond one pass of the dirtied
  // memory, and a measured downtime.
  assert.ok(final.memory!.totalBytes >= 384 * 2 ** 20, `memory total ${final.memory!.totalBytes}`);
  assert.ok(final.data!.processedBytes > 40 * 2 ** 20, `processed ${final.data!.processedBytes}`);
  assert.equal(final.data!.remainingBytes, 0);
  assert.ok(msFromProtoTime(final.downtime) > 0, 'libvirt measured a downtime');
  assert.ok(!final.warnings.some((w) => /no final statistics/.test(w)), final.warnings.join('; '));
  // The NIC counters are measured from the baseline the first agent journaled.
  assert.ok(
    final.bytesOnMigrationNic >= final.data!.processedBytes * 0.9,
    `migration NIC ${final.bytesOnMigrationNic} B for ${final.data!.processedBytes} B copied`,
  );
  await until('the final record on disk', () => journaled('lab1', jobId).finished, { timeoutMs: 5000, everyMs: 250 });
  assert.equal(await domainState('lab2', VM), 'running');
  assert.equal(await domainState('lab1', VM), 'absent');
  assert.deepEqual(await pinholeRulesAfterJob('lab2'), [], 'FinishIncoming from the new agent closed the hole');
}

test("source agent SIGKILLed mid-migration and started again: the migration completes, COMPLETED with libvirt's counters", async () => {
  const { uuid, jobId } = await startSlowMigration();
  await ferryd('kill', 'lab1');
  assert.ok(await libvirtJobRunning('lab1'), 'libvirt carries on without the agent');
  assert.equal(journaled('lab1', jobId).data.status.phase, 'migrating');
  await ferryd('start', 'lab1');
  const { final } = await convergeAndFinish(jobId);
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', final.error?.message);
  await assertCompletedWithLibvirtCounters(jobId, uuid);
});

test('SIGTERM: the agent leaves the migration to libvirt, keeps the job unfinished in its journal and exits; the next start finishes it', async () => {
  const { uuid, jobId } = await startSlowMigration();
  const log = path.join(hostDir('lab1'), 'ferryd.log');
  const logBefore = readFileSync(log, 'utf8').length;
  await ferryd('stop', 'lab1'); // SIGTERM, SIGKILL only after 15 s
  const shutdownLog = readFileSync(log, 'utf8').slice(logBefore);
  assert.match(shutdownLog, /shutting down/);
  assert.match(shutdownLog, /ferryd stopped/, 'it exited by itself, not by the SIGKILL that follows 15 s later');
  assert.ok(await libvirtJobRunning('lab1'), 'libvirt carries on without the agent');
  const record = journaled('lab1', jobId);
  assert.equal(record.finished, false, 'the job is not over: closing the libvirt connection did not end it on disk');
  assert.equal(record.data.status.phase, 'migrating');
  await ferryd('start', 'lab1');
  const { final } = await convergeAndFinish(jobId);
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', final.error?.message);
  await assertCompletedWithLibvirtCounters(jobId, uuid);
  // Jobs of the earlier run stay answerable after yet another restart.
  await ferryd('restart', 'lab1');
  assert.equal((await status('lab1', jobId)).phase, 'MIGRATION_PHASE_COMPLETED');
  assert.ok(readdirSync(path.join(hostDir('lab1'), 'ferry', 'jobs')).includes(`${jobId}.json`));
});

test("destination agent SIGKILLed and started again mid-migration: it takes the job's pinhole back, and FinishIncoming closes it", async () => {
  const { uuid, jobId } = await startSlowMigration();
  const holes = await pinholeRules('lab2');
  assert.equal(holes.length, 1);
  await ferryd('kill', 'lab2');
  await ferryd('start', 'lab2');
  assert.deepEqual(await pinholeRules('lab2'), holes, 'the restarted agent kept the rule of the running job (not removed as stale)');
  const incomingRecords = path.join(hostDir('lab2'), 'ferry', 'incoming');
  assert.deepEqual(readdirSync(incomingRecords), [`${jobId}.json`]);
  const progress = watchToEnd('lab1', jobId);
  await unary(agent('lab1').migration, 'ChangeMigrationParams', {
    job: { jobId },
    maxBandwidthMibps: 400,
    maxDowntime: protoTimeFromMs(2000),
  });
  const final = (await progress).at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', final.error?.message);
  assert.ok(!final.warnings.some((w) => /not told/.test(w)), `the source reached the restarted destination: ${final.warnings.join('; ')}`);
  assert.equal(final.vmId, uuid);
  assert.deepEqual(await pinholeRulesAfterJob('lab2'), []);
  await until('the reservation record removed', () => readdirSync(incomingRecords).length === 0, { timeoutMs: 5000, everyMs: 250 });
});
