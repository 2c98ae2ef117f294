// A post-copy that broke, over in-memory ports: the job pauses instead of
// failing, waits for its migration link, asks the destination for a new
// port, resumes, retries with backoff, waits for RecoverMigration after its
// timeout, survives a restart, and ends FAILED only when the guest is lost.
// The lab test (test/e2e/postcopy-recovery.test.ts) breaks a real link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobJournal, type JournaledJob } from '../../agent/migration/jobs/job-journal.js';
import type { MigrationPhase, MigrationPolicy } from '../../agent/migration/types.js';
import { FerryError, isFerryError } from '../../shared/errors.js';
import { FakeHypervisor, FakeNetwork, FakePeers, stats } from '../support/fake-ports.js';
import { MemoryJournal } from '../support/memory-journal.js';
import { finalOf, outgoingMigrations, remoteCommand } from '../support/migration-fixtures.js';
import { until } from '../support/wait.js';

const VM = '0c5e1f7a-2b3d-4e5f-8a9b-1c2d3e4f5a6b';

function setup(policy: Partial<MigrationPolicy> = {}, disk = new MemoryJournal<JournaledJob>()) {
  const hypervisor = new FakeHypervisor();
  const network = new FakeNetwork();
  const peers = new FakePeers();
  hypervisor.addVm(VM);
  const journal = new JobJournal(disk, (id, err) => assert.fail(`journal write of ${id} failed: ${String(err)}`), Date.now);
  const migrations = outgoingMigrations({ hypervisor, network, peers, journal });
  return { hypervisor, network, peers, migrations, disk, command: remoteCommand(VM, {}, { postCopy: true, ...policy }) };
}

/** Migrates into post-copy, then breaks the connection: resolves with the job id once it is paused. */
async function pausedInPostcopy(s: ReturnType<typeof setup>) {
  const phases: MigrationPhase[] = [];
  const { jobId } = await s.migrations.migrate(s.command);
  s.migrations.watch({ jobId }, (status) => {
    if (phases.at(-1) !== status.phase) phases.push(status.phase);
  });
  await until('perform', () => s.hypervisor.isMigrating(VM));
  s.hypervisor.current = stats(200, 300, { postcopy: true });
  await until('post-copy', () => s.migrations.status({ jobId }).phase === 'postcopy');
  s.hypervisor.breakPostcopy(VM);
  await until('paused', () => s.migrations.status({ jobId }).phase === 'postcopy-paused');
  return { jobId, phases };
}

test('a post-copy that broke pauses, waits for its link, resumes on a new port and completes; nothing is failed or destroyed', async () => {
  const s = setup({ maxBandwidthMibps: 40 });
  s.network.down.add('eth1');
  const { jobId, phases } = await pausedInPostcopy(s);
  const paused = s.migrations.status({ jobId });
  assert.match(paused.recovery?.cause ?? '', /failed in post-copy phase/);
  assert.equal(paused.error, undefined);
  assert.deepEqual(s.peers.finished, [], 'the destination is not told the migration failed');
  assert.deepEqual(s.hypervisor.aborted, [], 'no abort');
  assert.deepEqual(
    s.migrations.pausedInPostcopy().map((j) => j.jobId),
    [jobId],
  );

  await new Promise((r) => setTimeout(r, 30)); // many link checks with the link down
  assert.equal(s.peers.recoveries.length, 0, 'no attempt while the migration link is down');
  s.network.down.delete('eth1');
  await until('resume sent', () => s.hypervisor.resumes.length === 1);
  assert.deepEqual(
    { ...s.peers.recoveries[0], trace: undefined },
    {
      vmId: VM,
      jobId,
      sourceHost: 'lab1',
      sourceMigrationAddress: '198.19.0.1',
      dstqemu: '198.19.0.2',
      migrationNetwork: '',
      trace: undefined,
    },
  );
  assert.equal(s.hypervisor.resumes[0]?.migrateUri, 'tcp://198.19.0.2:49201', "the destination's new port");
  await until('post-copy again', () => s.migrations.status({ jobId }).phase === 'postcopy');
  await until('bandwidth cap set again', () => s.hypervisor.calls.includes('speed-postcopy 40'));
  s.hypervisor.complete(VM);
  const final = await finalOf(s.migrations, jobId);
  assert.equal(final.phase, 'completed');
  assert.deepEqual(phases, ['preparing', 'migrating', 'postcopy', 'postcopy-paused', 'recovering', 'postcopy', 'completed']);
  assert.equal(final.recovery?.resumed, 1);
  assert.equal(final.recovery?.attempts, 1);
  assert.equal(final.migrateUri, 'tcp://198.19.0.2:49201');
  assert.deepEqual(s.peers.finished, [{ jobId, success: true }]);
});

test('failed attempts are retried with backoff, each said in the status; the guest is never resumed or destroyed by Ferry', async () => {
  const s = setup();
  s.peers.recoveryErrors.push(new FerryError('UNAVAILABLE', 'the destination agent does not answer'));
  s.hypervisor.resumeErrors.push(new FerryError('INTERNAL', 'operation failed: migrate-recover: connection refused'));
  const { jobId } = await pausedInPostcopy(s);
  await until('third attempt resumes', () => s.hypervisor.resumes.length === 2, { timeoutMs: 10_000 });
  const status = s.migrations.status({ jobId });
  assert.equal(status.recovery?.attempts, 3);
  assert.ok(
    status.warnings.some((w) =>
      /attempt 1 failed: the destination did not prepare the resume: the destination agent does not answer/.test(w),
    ),
    status.warnings.join('\n'),
  );
  assert.ok(status.warnings.some((w) => /attempt 2 failed: .*connection refused/.test(w)));
  s.hypervisor.complete(VM);
  assert.equal((await finalOf(s.migrations, jobId)).phase, 'completed');
  assert.ok(!s.hypervisor.calls.includes('resume'), 'the paused source is never resumed by Ferry');
});

test('postcopy_recovery_timeout 0: no attempt on its own; RecoverMigration resumes now, to another migration address if asked', async () => {
  const s = setup({ postcopyRecoveryTimeoutS: 0 });
  const { jobId } = await pausedInPostcopy(s);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(s.peers.recoveries.length, 0);
  assert.equal(s.migrations.status({ jobId }).recovery?.nextAttemptAt, 0, 'no attempt planned');
  await s.migrations.recoverPostcopy({ jobId }, { dstqemu: '198.19.0.12' });
  await until('resume sent', () => s.hypervisor.resumes.length === 1);
  assert.equal(s.peers.recoveries[0]?.dstqemu, '198.19.0.12');
  assert.equal(s.hypervisor.resumes[0]?.listenAddress, '198.19.0.12');
  await assert.rejects(
    s.migrations.recoverPostcopy({ jobId }),
    (err) => isFerryError(err, 'FAILED_PRECONDITION') && err.reason === 'POSTCOPY_NOT_PAUSED',
    'a job being resumed is not resumed twice',
  );
  s.hypervisor.complete(VM);
  assert.equal((await finalOf(s.migrations, jobId)).phase, 'completed');
});

test('after the timeout the job stays paused, said plainly, until RecoverMigration', async () => {
  const s = setup({ postcopyRecoveryTimeoutS: 0.05 });
  s.network.down.add('eth1');
  const { jobId } = await pausedInPostcopy(s);
  await until('given up waiting', () => s.migrations.status({ jobId }).warnings.some((w) => /not resumed within 0.05 s/.test(w)));
  s.network.down.delete('eth1');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(s.peers.recoveries.length, 0, 'the link back after the timeout starts nothing');
  assert.equal(s.migrations.status({ jobId }).phase, 'postcopy-paused');
  await s.migrations.recoverPostcopy({ jobId });
  await until('resume sent', () => s.hypervisor.resumes.length === 1);
  s.hypervisor.complete(VM);
  assert.equal((await finalOf(s.migrations, jobId)).phase, 'completed');
});

test('RecoverMigration and CancelMigration are refused with reasons where they do not apply', async () => {
  const s = setup();
  s.network.down.add('eth1');
  const { jobId: running } = await s.migrations.migrate({ ...s.command, policy: { ...s.command.policy, postCopy: false } });
  await assert.rejects(
    s.migrations.recoverPostcopy({ jobId: running }),
    (err) =>
      isFerryError(err, 'FAILED_PRECONDITION') && err.reason === 'POSTCOPY_NOT_PAUSED' && /not paused in post-copy/.test(err.message),
  );
  await s.migrations.cancel({ jobId: running });
  s.hypervisor.addVm(VM);
  const { jobId } = await pausedInPostcopy(s);
  await assert.rejects(
    s.migrations.cancel({ jobId }),
    (err) => isFerryError(err, 'FAILED_PRECONDITION') && /RecoverMigration/.test(err.message),
  );
  assert.equal(s.migrations.status({ jobId }).phase, 'postcopy-paused');
  s.network.down.delete('eth1');
  await until('resume sent', () => s.hypervisor.resumes.length === 1);
  s.hypervisor.complete(VM);
  assert.equal((await finalOf(s.migrations, jobId)).phase, 'completed');
});

test('the guest lost on the destination: FAILED with the truth about both sides, the source left paused', async () => {
  const s = setup();
  s.network.down.add('eth1');
  const { jobId } = await pausedInPostcopy(s);
  s.peers.recoveryErrors.push(
    new FerryError('FAILED_PRECONDITION', 'VM x cannot be resumed on this host: it does not run here', {
      reason: 'POSTCOPY_NOT_RECOVERABLE',
    }),
  );
  s.network.down.delete('eth1');
  const final = await finalOf(s.migrations, jobId);
  assert.equal(final.phase, 'failed');
  assert.equal(final.error?.step, 'recover');
  assert.equal(final.error?.kind, 'FAILED_PRECONDITION');
  assert.match(final.error?.message ?? '', /it does not run here.*the VM is lost.*paused copy.*disks are intact/s);
  assert.deepEqual(final.error?.vmState, { state: 'paused', reason: 'post-copy failed' });
  assert.ok(!s.hypervisor.calls.includes('resume') && s.hypervisor.vms.has(VM), 'the source is neither resumed nor destroyed');
});

test('an agent restarted while the post-copy is paused picks it up from the journal and resumes it', async () => {
  const first = setup();
  first.network.down.add('eth1'); // paused until the restart
  const { jobId } = await pausedInPostcopy(first);
  const disk = first.disk;
  // The agent dies; libvirt keeps the paused post-copy.
  const second = outgoingMigrations({
    hypervisor: first.hypervisor,
    network: new FakeNetwork(),
    peers: first.peers,
    journal: new JobJournal(disk, () => undefined, Date.now),
  });
  assert.equal(second.recover(disk.load().map((r) => r.data)), 1);
  await until('resume sent after the restart', () => first.hypervisor.resumes.length === 1);
  first.hypervisor.complete(VM);
  const final = await finalOf(second, jobId);
  assert.equal(final.phase, 'completed');
  assert.ok(final.warnings.some((w) => /restarted while the post-copy was paused/.test(w)));
  // The dead run's loop (a real one died with its process) finds the VM gone and stops.
  first.network.down.delete('eth1');
  await finalOf(first.migrations, jobId);
});
