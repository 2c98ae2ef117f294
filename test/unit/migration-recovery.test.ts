// Jobs across an agent restart, with in-memory ports: what is journaled,
// and what a new run makes of each record — a libvirt job still running is
// followed to its end, one that ended while the agent was down is read from
// where the VM is, one that never started fails saying so. The lab test
// (test/e2e/migrate-restart.test.ts) does the same with real processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobJournal, type JournaledJob } from '../../agent/migration/jobs/job-journal.js';
import { FakeHypervisor, FakeNetwork, FakePeers, stats } from '../support/fake-ports.js';
import { MemoryJournal } from '../support/memory-journal.js';
import { isFerryError } from '../../shared/errors.js';
import { finalOf, outgoingMigrations, remoteCommand } from '../support/migration-fixtures.js';
import { sleep, until } from '../support/wait.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';

const command = (vmId = VM) => remoteCommand(vmId);

/** One "run" of the agent over a journal that outlives it; the hypervisor and network are the host's. */
function agentRun(
  disk: MemoryJournal<JournaledJob>,
  host: { hypervisor: FakeHypervisor; network: FakeNetwork },
  maxOutgoing: number | (() => number) = 2,
) {
  const peers = new FakePeers();
  const journal = new JobJournal(disk, (id, err) => assert.fail(`journal write of ${id} failed: ${String(err)}`), Date.now);
  const migrations = outgoingMigrations({
    ...host,
    peers,
    maxOutgoing: typeof maxOutgoing === 'number' ? () => maxOutgoing : maxOutgoing,
    journal,
  });
  return { migrations, peers, journal };
}

/** A first run that starts a migration and dies (journal frozen) while libvirt copies. */
async function dieMidMigration() {
  const disk = new MemoryJournal<JournaledJob>();
  const host = { hypervisor: new FakeHypervisor(), network: new FakeNetwork() };
  host.hypervisor.addVm(VM);
  const first = agentRun(disk, host);
  host.network.tx.set('eth1', 1000);
  const { jobId } = await first.migrations.migrate(command());
  await until('perform', () => host.hypervisor.isMigrating(VM));
  host.hypervisor.current = stats(100, 300);
  await until('progress', () => first.migrations.status({ jobId }).progressPercent === 25);
  await first.journal.freeze();
  host.hypervisor.dropCaller(VM);
  return { disk, host, jobId };
}

test('the journal holds the request, the phase and the NIC baseline while the job runs, and the final status after', async () => {
  const { disk, jobId } = await dieMidMigration();
  const record = disk.records.get(jobId)!;
  assert.equal(record.finished, false);
  assert.equal(record.data.status.phase, 'migrating');
  assert.deepEqual(record.data.command, command());
  assert.equal(record.data.nicBaseline?.migrationInterface, 'eth1');
  assert.equal(record.data.nicBaseline?.migrationTxBytes, 1000);
});

test("a libvirt job still running after a restart is followed: COMPLETED with libvirt's final counters and the NIC traffic since the copy began", async () => {
  const { disk, host, jobId } = await dieMidMigration();
  const second = agentRun(disk, host, 0); // a limit of 0 must not hold back a migration libvirt is running
  assert.equal(second.migrations.recover(disk.load().map((r) => r.data)), 1);
  await until('the reattach warning', () => second.migrations.status({ jobId }).warnings.some((w) => /reattached/.test(w)));
  assert.equal(second.migrations.status({ jobId }).phase, 'migrating');
  host.hypervisor.current = stats(200, 200);
  await until('progress seen by the new run', () => second.migrations.status({ jobId }).progressPercent === 50);
  host.network.tx.set('eth1', 51_000);
  host.hypervisor.vms.delete(VM); // libvirt completed: the VM left this host
  host.hypervisor.current = stats(0, 0, { type: 'none' });
  const final = await finalOf(second.migrations, jobId);
  assert.equal(final.phase, 'completed');
  assert.equal(final.data.processed, 300, "the final counters are libvirt's, not the last poll");
  assert.equal(final.bytesOnMigrationNic, 50_000);
  await until('FinishIncoming', () => second.peers.finished.length > 0);
  assert.deepEqual(second.peers.finished, [{ jobId, success: true }]);
  assert.equal(disk.records.get(jobId)!.finished, true);
  assert.equal(disk.records.get(jobId)!.data.status.phase, 'completed');
});

test('a migration that ended without completing while the agent was down: FAILED, the VM state said, the destination told', async () => {
  const { disk, host, jobId } = await dieMidMigration();
  host.hypervisor.current = stats(0, 0, { type: 'none' });
  host.hypervisor.vms.get(VM)!.state = 'paused';
  const second = agentRun(disk, host);
  second.migrations.recover(disk.load().map((r) => r.data));
  const final = await finalOf(second.migrations, jobId);
  assert.equal(final.phase, 'failed');
  assert.equal(final.error?.step, 'recover');
  assert.deepEqual(final.error?.vmState, { state: 'paused', reason: '' });
  assert.match(final.error!.message, /ended without completing/);
  assert.deepEqual(second.peers.finished, [{ jobId, success: false }]);
});

test('a migration that completed while the agent was down: COMPLETED, with a warning that the counters are the last seen', async () => {
  const { disk, host, jobId } = await dieMidMigration();
  host.hypervisor.current = stats(0, 0, { type: 'none' });
  host.hypervisor.vms.delete(VM);
  const second = agentRun(disk, host);
  second.migrations.recover(disk.load().map((r) => r.data));
  const lastJournaled = disk.records.get(jobId)!.data.status.data;
  const final = await finalOf(second.migrations, jobId);
  assert.equal(final.phase, 'completed');
  assert.match(final.warnings.join('\n'), /no final statistics/);
  assert.deepEqual(final.data, lastJournaled);
});

test("a reattached job can be cancelled: libvirt's job is aborted and the job ends CANCELLED with the VM on the source", async () => {
  const { disk, host, jobId } = await dieMidMigration();
  const second = agentRun(disk, host);
  second.migrations.recover(disk.load().map((r) => r.data));
  const cancelled = await second.migrations.cancel({ jobId });
  assert.equal(cancelled.phase, 'cancelled');
  assert.deepEqual(cancelled.error?.vmState, { state: 'running', reason: '' });
  assert.deepEqual(host.hypervisor.aborted, [VM]);
});

test('a job that was still queued is queued again by the next run and completes; finished jobs answer without being rewritten', async () => {
  const disk = new MemoryJournal<JournaledJob>();
  const host = { hypervisor: new FakeHypervisor(), network: new FakeNetwork() };
  host.hypervisor.addVm(VM);
  const first = agentRun(disk, host, 0);
  const { jobId } = await first.migrations.migrate(command());
  assert.equal(first.migrations.status({ jobId }).phase, 'queued');
  await first.journal.freeze();
  await first.migrations.cancel({ jobId }); // the first run "dies": its end is not journaled
  const second = agentRun(disk, host);
  assert.equal(second.migrations.recover(disk.load().map((r) => r.data)), 1);
  await until('perform by the new run', () => host.hypervisor.isMigrating(VM));
  assert.equal(second.peers.prepared.length, 1, 'the destination was asked to prepare once, by the new run');
  host.hypervisor.complete(VM);
  const final = await finalOf(second.migrations, jobId);
  assert.equal(final.phase, 'completed');
  assert.match(final.warnings.join('\n'), /queued again/);
  await until('the final record', () => disk.records.get(jobId)!.finished);
  const writes = disk.writes;
  const third = agentRun(disk, host);
  assert.equal(third.migrations.recover(disk.load().map((r) => r.data)), 0);
  assert.equal(third.migrations.status({ jobId }).phase, 'completed');
  assert.equal(disk.writes, writes, 'restoring a finished job does not rewrite (and so renew) its record');
});

test('a job that was preparing when the agent died: the destination drops its reservation, and the job is queued again', async () => {
  const disk = new MemoryJournal<JournaledJob>();
  const host = { hypervisor: new FakeHypervisor(), network: new FakeNetwork() };
  host.hypervisor.addVm(VM);
  let limit = 0;
  const first = agentRun(disk, host, () => limit);
  // Queued first (a queued job is journaled before it prepares), then a slot, then a PrepareIncoming that never answers.
  first.peers.prepareIncoming = () => new Promise(() => {});
  const { jobId } = await first.migrations.migrate(command());
  limit = 1;
  first.migrations.limitsChanged();
  await until('the preparing record', () => disk.records.get(jobId)?.data.status.phase === 'preparing');
  await first.journal.freeze();
  const second = agentRun(disk, host);
  second.migrations.recover(disk.load().map((r) => r.data));
  await until('perform by the new run', () => host.hypervisor.isMigrating(VM));
  assert.deepEqual(second.peers.finished, [{ jobId, success: false }], 'the first reservation was dropped first');
  host.hypervisor.complete(VM);
  assert.equal((await finalOf(second.migrations, jobId)).phase, 'completed');
});

test('a stopping agent refuses new jobs with UNAVAILABLE, touching nothing', async () => {
  const disk = new MemoryJournal<JournaledJob>();
  const host = { hypervisor: new FakeHypervisor(), network: new FakeNetwork() };
  host.hypervisor.addVm(VM);
  const run = agentRun(disk, host);
  run.migrations.stopAccepting();
  await assert.rejects(run.migrations.migrate(command()), (e) => isFerryError(e, 'UNAVAILABLE') && /shutting down/.test(e.message));
  assert.deepEqual(run.migrations.list(false), []);
  assert.equal(disk.writes, 0);
  assert.deepEqual(run.peers.prepared, []);
});

test('max_retained: beyond it the oldest finished jobs are forgotten, running ones never', async () => {
  const host = { hypervisor: new FakeHypervisor(), network: new FakeNetwork() };
  const peers = new FakePeers();
  const migrations = outgoingMigrations({
    ...host,
    peers,
    maxOutgoing: () => 5,
    maxRetained: 2,
  });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const vmId = VM.replace(/0$/, String(i + 1));
    host.hypervisor.addVm(vmId);
    const { jobId } = await migrations.migrate(command(vmId));
    await until('perform', () => host.hypervisor.isMigrating(vmId));
    host.hypervisor.complete(vmId);
    await finalOf(migrations, jobId);
    ids.push(jobId);
    await sleep(2); // distinct finish times
  }
  assert.deepEqual(
    migrations
      .list(false)
      .map((s) => s.jobId)
      .sort(),
    ids.slice(1).sort(),
  );
  assert.throws(
    () => migrations.status({ jobId: ids[0]! }),
    (e) => isFerryError(e, 'NOT_FOUND'),
  );
});

test("libvirt's perform is sent only once the MIGRATING record (with its NIC baseline) is on disk", async () => {
  const disk = new MemoryJournal<JournaledJob>();
  const host = { hypervisor: new FakeHypervisor(), network: new FakeNetwork() };
  host.hypervisor.addVm(VM);
  const slowDisk = disk.write.bind(disk);
  let release = () => {};
  disk.write = async (jobId, finished, data) => {
    if (data.status.phase === 'migrating') await new Promise<void>((r) => (release = r)); // an fsync that takes its time
    return slowDisk(jobId, finished, data);
  };
  const run = agentRun(disk, host);
  const { jobId } = await run.migrations.migrate(command());
  await until('MIGRATING', () => run.migrations.status({ jobId }).phase === 'migrating');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(host.hypervisor.isMigrating(VM), false, 'not sent while the record is being written');
  assert.notEqual(disk.records.get(jobId)?.data.status.phase, 'migrating');
  release();
  await until('perform', () => host.hypervisor.isMigrating(VM));
  const onDisk = disk.records.get(jobId)!.data;
  assert.equal(onDisk.status.phase, 'migrating');
  assert.ok(onDisk.nicBaseline, 'the baseline a restarted agent measures the copy against');
  host.hypervisor.complete(VM);
  assert.equal((await finalOf(run.migrations, jobId)).phase, 'completed');
});
