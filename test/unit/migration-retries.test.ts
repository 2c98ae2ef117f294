// Safe retries (AIP-155) in the migration core, with in-memory ports: a
// Migrate or Restore repeated with one request id makes one job (or one
// restore), while it runs, after it ended, when the calls race, and after an
// agent restart; the same id with another request is refused.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileJournal } from '../../agent/journal/file-journal.js';
import { JobJournal, type JournaledJob } from '../../agent/migration/jobs/job-journal.js';
import { canonicalJson } from '../../agent/migration/jobs/request-identity.js';
import type { RestoreRecord } from '../../agent/migration/outgoing/restores.js';
import { BUILTIN_DEFAULTS } from '../../agent/migration/policy/policy.js';
import type { MigrateRequest, MigrationPolicy } from '../../agent/migration/types.js';
import { FerryError, isFerryError } from '../../shared/errors.js';
import { fakeOutgoing as fakeOutgoingPorts, finalOf, remoteRequest } from '../support/migration-fixtures.js';
import { MemoryJournal } from '../support/memory-journal.js';
import { until } from '../support/wait.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const ID = '1f0b8b9d-6f2a-4a67-9d43-8f9c3c5e2b0a';

/** A Migrate call as the rpc edge hands it over: only what the caller set in the policy. */
const request = (extra: Partial<MigrateRequest> = {}): MigrateRequest =>
  remoteRequest(VM, { policy: { maxBandwidthMibps: 100 }, requestId: ID, ...extra });

/** Every core a test made: what still runs is cancelled after the test, so that no job outlives it. */
const made: Array<ReturnType<typeof fakeOutgoingPorts>> = [];
const fakeOutgoing = (...args: Parameters<typeof fakeOutgoingPorts>) => {
  const fixture = fakeOutgoingPorts(...args);
  made.push(fixture);
  return fixture;
};
afterEach(async () => {
  for (const { migrations } of made.splice(0)) {
    for (const s of migrations.list(true)) await migrations.cancel({ jobId: s.jobId }).catch(() => undefined);
  }
});

const reused = (err: unknown) =>
  isFerryError(err, 'FAILED_PRECONDITION') &&
  err.details.field === 'request_id' &&
  err.reason === 'REQUEST_ID_REUSED' &&
  /already used for a different/.test(err.message);

test('a retry with the same request id answers the same job, without a second PrepareIncoming', async () => {
  const { hypervisor, peers, migrations } = fakeOutgoing();
  hypervisor.addVm(VM);
  const first = await migrations.migrate(request());
  const again = await migrations.migrate(request());
  assert.equal(again.jobId, first.jobId);
  assert.equal(peers.attempts.length, 1);
  assert.equal(migrations.list(false).length, 1);
});

test('without a request id every call is a new request: the second one is refused as a second job for the VM', async () => {
  const { hypervisor, migrations } = fakeOutgoing();
  hypervisor.addVm(VM);
  const { requestId: _, ...anonymous } = request();
  await migrations.migrate(anonymous);
  await assert.rejects(migrations.migrate(anonymous), (err) => isFerryError(err, 'ALREADY_EXISTS'));
});

test('the same request id with a different request is FAILED_PRECONDITION on request_id, and nothing is created', async () => {
  const { hypervisor, peers, migrations } = fakeOutgoing();
  hypervisor.addVm(VM);
  const first = await migrations.migrate(request());
  await assert.rejects(migrations.migrate(request({ dstqemu: '198.19.0.3' })), reused);
  await assert.rejects(migrations.migrate(request({ policy: { maxBandwidthMibps: 200 } })), reused);
  await assert.rejects(migrations.migrate(request({ policy: {} })), reused, 'an unset field differs from one set to the default');
  assert.equal(peers.attempts.length, 1);
  assert.deepEqual(
    migrations.list(false).map((s) => s.jobId),
    [first.jobId],
  );
});

test("a retry is recognised when the host's defaults changed between the tries: requests are compared as sent", async () => {
  let defaults: MigrationPolicy = { ...BUILTIN_DEFAULTS };
  const { hypervisor, migrations } = fakeOutgoing({ policyDefaults: () => defaults });
  hypervisor.addVm(VM);
  const first = await migrations.migrate(request({ policy: {} }));
  defaults = { ...BUILTIN_DEFAULTS, maxBandwidthMibps: 42, autoConverge: true }; // a SIGHUP between the tries
  assert.equal((await migrations.migrate(request({ policy: {} }))).jobId, first.jobId);
});

test('a retry after the job ended answers it with its final phase, however it ended', async () => {
  const { hypervisor, migrations } = fakeOutgoing();
  hypervisor.addVm(VM);
  const first = await migrations.migrate(request());
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.complete(VM); // the VM has left this host: a new job could not even start
  assert.equal((await finalOf(migrations, first.jobId)).phase, 'completed');
  const again = await migrations.migrate(request());
  assert.equal(again.jobId, first.jobId);
  assert.equal(again.phase, 'completed');
  await assert.rejects(migrations.migrate(request({ dst: '198.18.0.3' })), reused);
});

test('retries racing the first call (all at once) make one job; a different request racing them is refused', async () => {
  const { hypervisor, peers, migrations } = fakeOutgoing();
  hypervisor.addVm(VM);
  const calls = [request(), request(), request({ dstqemu: '198.19.0.9' }), request()].map((r) =>
    migrations.migrate(r).then(
      (s) => s.jobId,
      (err: unknown) => err,
    ),
  );
  const [a, b, odd, c] = await Promise.all(calls);
  assert.equal(typeof a, 'string');
  assert.equal(b, a);
  assert.equal(c, a);
  assert.ok(reused(odd), `the different request: ${String(odd)}`);
  assert.equal(peers.attempts.length, 1);
  assert.equal(migrations.list(false).length, 1);
});

test('a first call that failed created nothing: its retry tries again and creates the job', async () => {
  const { hypervisor, peers, migrations } = fakeOutgoing();
  hypervisor.addVm(VM);
  peers.prepareErrors.push(new FerryError('UNAVAILABLE', 'destination agent not reachable'));
  await assert.rejects(migrations.migrate(request()), (err) => isFerryError(err, 'UNAVAILABLE'));
  assert.deepEqual(migrations.list(false), []);
  const job = await migrations.migrate(request());
  assert.equal(peers.attempts.length, 2);
  assert.equal((await migrations.migrate(request())).jobId, job.jobId);
});

test('once its job is forgotten (retention), a request id is free again', async () => {
  const { hypervisor, migrations } = fakeOutgoing({ retentionMs: 20 });
  hypervisor.addVm(VM);
  const first = await migrations.migrate(request());
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.complete(VM);
  await finalOf(migrations, first.jobId);
  hypervisor.addVm(VM); // back on this host
  await until('the job forgotten', () => migrations.list(false).length === 0);
  const second = await migrations.migrate(request());
  assert.notEqual(second.jobId, first.jobId);
});

test('Migrate with a request id answers only once the job record is durable (a crash right after the answer keeps the id)', async () => {
  class SlowDisk extends MemoryJournal<JournaledJob> {
    release: () => void = () => {};
    private readonly gate = new Promise<void>((resolve) => (this.release = resolve));
    override async write(jobId: string, finished: boolean, data: JournaledJob): Promise<void> {
      await this.gate;
      return super.write(jobId, finished, data);
    }
  }
  const disk = new SlowDisk();
  const journal = new JobJournal(disk, (id, err) => assert.fail(`journal write of ${id}: ${String(err)}`), Date.now);
  const { hypervisor, migrations } = fakeOutgoing({ journal });
  hypervisor.addVm(VM);
  let answered = false;
  const call = migrations.migrate(request()).then((s) => {
    answered = true;
    return s;
  });
  await until('the job registered', () => migrations.list(false).length === 1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(answered, false, 'answered before the record was written');
  disk.release();
  const { jobId } = await call;
  assert.equal(disk.records.get(jobId)?.data.request?.id, ID);
});

test('the journal keeps the request id and fingerprint: after a restart a retry answers the same job, a different request is refused', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-retries-'));
  const disk = new FileJournal<JournaledJob>(dir, Date.now, 'jobs');
  const journals: JobJournal[] = [];
  const journalOf = () => {
    const journal = new JobJournal(disk, (id, err) => assert.fail(`journal write of ${id}: ${String(err)}`), Date.now);
    journals.push(journal);
    return journal;
  };
  try {
    const firstRun = fakeOutgoing({ journal: journalOf(), maxOutgoing: () => 0 }); // stays QUEUED: nothing runs
    firstRun.hypervisor.addVm(VM);
    const first = await firstRun.migrations.migrate(request());
    const [record] = disk.load();
    assert.equal(record?.data.request?.id, ID);
    assert.match(record?.data.request?.fingerprint ?? '', /^[0-9a-f]{64}$/);
    await journals[0]?.freeze(); // the first run "is killed": nothing more of it reaches the disk

    // A new run over the same files: recovery rebuilds the index from the journal.
    const secondRun = fakeOutgoing({ journal: journalOf(), maxOutgoing: () => 0 });
    secondRun.hypervisor.addVm(VM);
    assert.equal(secondRun.migrations.recover(disk.load().map((r) => r.data)), 1);
    const again = await secondRun.migrations.migrate(request());
    assert.equal(again.jobId, first.jobId);
    await assert.rejects(secondRun.migrations.migrate(request({ dstqemu: '198.19.0.3' })), reused);
    assert.equal(secondRun.migrations.list(false).length, 1);
    assert.equal(secondRun.peers.attempts.length, 0);
  } finally {
    for (const journal of journals) await journal.freeze();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('canonical JSON: key order and unset members do not matter, array order does', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: undefined } }), canonicalJson({ a: { d: [2, 1] }, b: 1 }));
  assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
  assert.notEqual(canonicalJson({ a: 0 }), canonicalJson({}));
});

/** A restorable hibernation: the saved state and its definition in the fake files. */
function withSavedVm(files: { files: Map<string, string> }) {
  files.files.set('/var/lib/ferry/vm.save', 'state');
  files.files.set(
    '/var/lib/ferry/vm.json',
    JSON.stringify({
      format: 'ferry.hibernation/v1',
      vmId: VM,
      savedAt: '2026-01-01T00:00:00.000Z',
      statePath: '/var/lib/ferry/vm.save',
      domainXml: '<domain/>',
    }),
  );
  return { path: '/var/lib/ferry/vm.save', dstparams: '/var/lib/ferry/vm.json', paused: false, requestId: ID };
}

test('Restore with a request id restores once: retries (also racing, also after a restart) answer the same VM; another request is refused', async () => {
  const disk = new MemoryJournal<RestoreRecord>();
  let restores = 0;
  const run = () => {
    const fixture = fakeOutgoing({ restoreJournal: disk });
    fixture.hypervisor.restore = async () => {
      restores++;
      return { id: VM, name: 'web' };
    };
    return fixture;
  };
  const first = run();
  const restore = withSavedVm(first.hibernationFiles);
  const answers = await Promise.all([first.migrations.restoreSaved(restore), first.migrations.restoreSaved(restore)]);
  assert.deepEqual(answers, [
    { id: VM, name: 'web' },
    { id: VM, name: 'web' },
  ]);
  assert.deepEqual(await first.migrations.restoreSaved(restore), { id: VM, name: 'web' });
  await assert.rejects(first.migrations.restoreSaved({ ...restore, paused: true }), reused);
  assert.equal(restores, 1);

  const second = run(); // a restart: the answer comes from the journal
  withSavedVm(second.hibernationFiles);
  assert.deepEqual(await second.migrations.restoreSaved(restore), { id: VM, name: 'web' });
  await assert.rejects(second.migrations.restoreSaved({ ...restore, paused: true }), reused);
  assert.equal(restores, 1);
});
