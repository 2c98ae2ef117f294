// Deadlines: no libvirt call is waited on forever. The libvirt adapter bounds
// every short call itself (tested below over a mock libvirtd), while long
// ones end when the connection drops; the core adds no deadline of its own
// to a call, and bounds only its waits for a job's end: an abort the adapter
// reports unanswered is reported (a warning, and CancelMigration answers
// DEADLINE_EXCEEDED); a failure path that lost libvirt waits for it, bounded,
// before it reports the VM's state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MigrationJob } from '../../agent/migration/jobs/migration-job.js';
import { runHibernation } from '../../agent/migration/outgoing/hibernation.js';
import type { VmInfo } from '../../agent/migration/ports.js';
import type { MigrateCommand } from '../../agent/migration/types.js';
import { LibvirtHypervisor } from '../../agent/hypervisor/libvirt-hypervisor.js';
import { ReconnectingClient } from '../../agent/libvirt/index.js';
import {
  decodeRemoteDomainLookupByUuidArgs,
  encodeRemoteDomainLookupByUuidRet,
} from '../../agent/libvirt/generated/remote_protocol.gen.js';
import { FerryError, isFerryError } from '../../shared/errors.js';
import { FakeHibernationFiles, FakeHypervisor, FakePeers, fastClock, stats } from '../support/fake-ports.js';
import { MockLibvirtd } from '../support/mock-libvirtd.js';
import { finalOf, livePlan, outgoingMigrations, remoteCommand } from '../support/migration-fixtures.js';
import { sleep, until } from '../support/wait.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const CALL_MS = 200;

const command = (extra: Partial<MigrateCommand> = {}) => remoteCommand(VM, extra);

/** A hypervisor that can hang its abort and lose (then regain) its connection. */
class UnreliableHypervisor extends FakeHypervisor {
  /** abort never answered: rejected DEADLINE_EXCEEDED after CALL_MS, as the adapter's deadline does. */
  abortHangs = false;
  /** abort accepted, but the migration does not end (a QEMU that does not answer). */
  abortIgnored = false;
  /** describeVm answers UNAVAILABLE while true (libvirtd restarting). */
  down = false;
  describeCalls = 0;
  override async abortJob(id: string): Promise<void> {
    if (this.abortHangs) {
      this.calls.push('abort (hangs)');
      await new Promise((r) => setTimeout(r, CALL_MS));
      throw new FerryError('DEADLINE_EXCEEDED', `libvirt did not answer within ${CALL_MS / 1000} s (abort job, ${id})`);
    }
    if (this.abortIgnored) {
      this.calls.push('abort (ignored)');
      return;
    }
    return super.abortJob(id);
  }
  override async describeVm(id: string): Promise<VmInfo> {
    this.describeCalls++;
    if (this.down) throw new FerryError('UNAVAILABLE', 'libvirt is not reachable: connection refused');
    return super.describeVm(id);
  }
}

function setup() {
  const hypervisor = new UnreliableHypervisor();
  const peers = new FakePeers();
  const migrations = outgoingMigrations({ hypervisor, peers, abortWaitMs: 2 * CALL_MS, answerWaitMs: 4 * CALL_MS });
  hypervisor.addVm(VM);
  return { hypervisor, peers, migrations };
}

test('an abort the adapter reports unanswered: CancelMigration answers DEADLINE_EXCEEDED at once and the job says so', async () => {
  const { hypervisor, migrations } = setup();
  hypervisor.abortHangs = true;
  const { jobId } = await migrations.migrate(command());
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.current = stats(100, 300);
  const started = Date.now();
  await assert.rejects(
    migrations.cancel({ jobId }),
    (e) =>
      isFerryError(e, 'DEADLINE_EXCEEDED') &&
      e.message ===
        `the abort was not answered (libvirt did not answer within 0.2 s (abort job, ${VM})); the migration may still be running`,
  );
  const took = Date.now() - started;
  assert.ok(took >= CALL_MS && took < CALL_MS + 500, `cancel took ${took} ms`);
  const status = migrations.status({ jobId });
  // Not FAILED: libvirt may still be copying, and may yet complete.
  assert.equal(status.phase, 'migrating');
  assert.ok(
    status.warnings.some((w) => w.includes('the abort was not answered (libvirt did not answer within 0.2 s (abort job')),
    status.warnings.join('; '),
  );
  hypervisor.complete(VM);
  assert.equal((await finalOf(migrations, jobId)).phase, 'completed');
});

test('an abort libvirt takes but whose migration never ends: CancelMigration gives up after two call deadlines', async () => {
  const { hypervisor, migrations } = setup();
  hypervisor.abortIgnored = true;
  const { jobId } = await migrations.migrate(command());
  await until('perform', () => hypervisor.isMigrating(VM));
  const started = Date.now();
  await assert.rejects(
    migrations.cancel({ jobId }),
    (e) => isFerryError(e, 'DEADLINE_EXCEEDED') && /did not end within 0.4 s of its abort; it may still be running/.test(e.message),
  );
  const took = Date.now() - started;
  assert.ok(took >= 2 * CALL_MS && took < 2 * CALL_MS + 500, `cancel took ${took} ms`);
  assert.deepEqual(hypervisor.calls, ['abort (ignored)']);
  hypervisor.failMigration(VM, new FerryError('ABORTED', 'operation aborted'));
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'cancelled');
  assert.deepEqual(final.error?.vmState, { state: 'running', reason: '' });
});

test('libvirt lost mid-migration: the failure waits for it to answer again and reports the real VM state', async () => {
  const { hypervisor, peers, migrations } = setup();
  const { jobId } = await migrations.migrate(command());
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.down = true;
  const looksBefore = hypervisor.describeCalls;
  hypervisor.failMigration(
    VM,
    new FerryError('UNAVAILABLE', 'lost the connection to libvirtd before it answered (the daemon stopped, restarted or crashed)'),
  );
  await until('a second look at the VM', () => hypervisor.describeCalls >= looksBefore + 2);
  assert.equal(migrations.status({ jobId }).phase, 'migrating', 'not FAILED before libvirt can tell what became of the VM');
  assert.deepEqual(peers.finished, [], 'the destination is told once the outcome is known');
  hypervisor.vms.get(VM)!.state = 'paused'; // as libvirt's recovery might leave it
  hypervisor.down = false;
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'failed');
  assert.match(final.error!.message, /lost the connection to libvirtd/);
  assert.deepEqual(final.error!.vmState, { state: 'paused', reason: '' });
  assert.ok(
    final.warnings.some((w) => /waiting up to 0.8 s in all for libvirt to answer again/.test(w)),
    final.warnings.join('; '),
  );
  assert.ok(
    final.warnings.some((w) => /paused on the source after libvirtd lost the migration/.test(w)),
    final.warnings.join('; '),
  );
  assert.deepEqual(peers.finished, [{ jobId, success: false }]);
  assert.deepEqual(hypervisor.calls, [], 'a VM Ferry did not pause is not resumed');
});

test('libvirt lost mid-migration and silent for good: FAILED after a bounded wait, the state said to be unknown', async () => {
  const { hypervisor, migrations } = setup();
  const { jobId } = await migrations.migrate(command());
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.down = true;
  const lost = Date.now();
  hypervisor.failMigration(VM, new FerryError('UNAVAILABLE', 'lost the connection to libvirtd'));
  const final = await finalOf(migrations, jobId);
  const took = Date.now() - lost;
  assert.equal(final.phase, 'failed');
  assert.deepEqual(final.error!.vmState, { state: 'unknown', reason: 'libvirt did not answer for 0.8 s' });
  assert.ok(took >= 4 * CALL_MS && took < 4 * CALL_MS + 1500, `gave up after ${took} ms`);
});

test('libvirt lost, and the VM has left this host once it answers: libvirt completed the migration', async () => {
  const { hypervisor, peers, migrations } = setup();
  const { jobId } = await migrations.migrate(command());
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.vms.delete(VM); // libvirt's Confirm step removed the source
  hypervisor.failMigration(VM, new FerryError('UNAVAILABLE', 'lost the connection to libvirtd'));
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'completed');
  assert.ok(final.warnings.some((w) => /lost before it answered, and the VM has left this host/.test(w)));
  assert.deepEqual(peers.finished, [{ jobId, success: true }]);
});

test('a save whose connection dropped but which stopped the VM completed: its files stay', async () => {
  const hypervisor = new UnreliableHypervisor();
  hypervisor.addVm(VM);
  const files = new FakeHibernationFiles();
  const cmd = command({ mode: 'file', dst: '/var/lib/ferry/vm.save', dstparams: '/var/lib/ferry/vm.json' });
  hypervisor.save = async (...args: unknown[]) => {
    const [id, path] = args as [string, string];
    await files.write(path, 'state');
    hypervisor.vms.get(id)!.state = 'shutoff';
    throw new FerryError('UNAVAILABLE', 'lost the connection to libvirtd before it answered');
  };
  const job = new MigrationJob('job-1', cmd, () => Date.now(), 'preparing');
  await runHibernation(job, { hypervisor, hibernationFiles: files, clock: fastClock, answerWaitMs: 4 * CALL_MS, pollIntervalMs: 5 });
  assert.equal(job.phase, 'completed');
  assert.ok(files.files.has(cmd.dst) && files.files.has(cmd.dstparams), 'the saved state and its definition are kept');
  assert.ok(!files.log.some((l) => l.startsWith('remove')), files.log.join('; '));
});

// ---- The adapter over a mock libvirtd ----

async function adapterOver(mock: MockLibvirtd) {
  const libvirt = new ReconnectingClient({ dialer: mock.dialer(), keepalive: false, retryStrategy: () => 50 });
  const hypervisor = new LibvirtHypervisor(libvirt, { callTimeoutMs: CALL_MS });
  mock.on('DOMAIN_LOOKUP_BY_UUID', (c) => {
    const { uuid } = decodeRemoteDomainLookupByUuidArgs(c.args);
    return { body: (w) => encodeRemoteDomainLookupByUuidRet(w, { dom: { name: 'vm', uuid, id: 1 } }) };
  });
  await libvirt.client();
  return { libvirt, hypervisor };
}

test('adapter: a DOMAIN_ABORT_JOB that never answers rejects DEADLINE_EXCEEDED after the call deadline', async () => {
  const mock = await MockLibvirtd.start();
  const { libvirt, hypervisor } = await adapterOver(mock);
  try {
    mock.on('DOMAIN_ABORT_JOB', () => ({ hang: true }));
    const started = Date.now();
    await assert.rejects(
      hypervisor.abortJob(VM, { postcopy: false }),
      (e) => isFerryError(e, 'DEADLINE_EXCEEDED') && /did not answer within 0.2 s \(abort job/.test(e.message),
    );
    assert.ok(Date.now() - started < CALL_MS + 300);
  } finally {
    await libvirt.close();
    await mock.close();
  }
});

test('adapter: waiting for a daemon that is down counts against the deadline', async () => {
  const mock = await MockLibvirtd.start();
  const { libvirt, hypervisor } = await adapterOver(mock);
  try {
    await mock.close(); // the daemon is gone; the client keeps trying to reconnect
    await until('the client to notice', () => libvirt.state === 'reconnecting');
    const started = Date.now();
    await assert.rejects(
      hypervisor.describeVm(VM),
      (e) => isFerryError(e, 'DEADLINE_EXCEEDED') && /did not answer within 0.2 s \(describe VM/.test(e.message),
    );
    assert.ok(Date.now() - started >= CALL_MS - 5);
    assert.ok(Date.now() - started < CALL_MS + 300, `took ${Date.now() - started} ms`);
  } finally {
    await libvirt.close();
  }
});

test('adapter: a migration has no deadline but ends, UNAVAILABLE and saying why, when libvirtd goes away', async () => {
  const mock = await MockLibvirtd.start();
  const { libvirt, hypervisor } = await adapterOver(mock);
  try {
    mock.on('DOMAIN_MIGRATE_PERFORM3_PARAMS', () => ({ hang: true }));
    const perform = hypervisor.migrateLive(VM, livePlan());
    const outcome = perform.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await sleep(3 * CALL_MS); // well past the short-call deadline: still running
    assert.equal(mock.count('DOMAIN_MIGRATE_PERFORM3_PARAMS'), 1);
    assert.equal(await Promise.race([outcome, new Promise((r) => setTimeout(() => r('pending'), 10))]), 'pending');
    mock.dropAll();
    const err = await outcome;
    assert.ok(isFerryError(err, 'UNAVAILABLE'), String(err));
    assert.match(
      (err as Error).message,
      /lost the connection to libvirtd before it answered \(the daemon stopped, restarted or crashed\): DOMAIN_MIGRATE_PERFORM3_PARAMS/,
    );
  } finally {
    await libvirt.close();
    await mock.close();
  }
});
