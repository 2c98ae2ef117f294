// The convergence schedule, the timeouts, the busy-destination retry and the
// run-time limits, through the core's front door with in-memory ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostLimits } from '../../agent/migration/limits.js';
import type { IncomingOffer, PrepareIncomingArgs } from '../../agent/migration/ports.js';
import type { MigrateCommand, MigrationPolicy } from '../../agent/migration/types.js';
import { FerryError } from '../../shared/errors.js';
import { FakeHypervisor, FakePeers, fastClock, ManualClock, stats } from '../support/fake-ports.js';
import { afterPasses as it, finalOf, outgoingMigrations, remoteCommand } from '../support/migration-fixtures.js';
import { sleep, until } from '../support/wait.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const VM2 = '7f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f51';
const VM3 = '8f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f52';
const BUSY = () => new FerryError('RESOURCE_EXHAUSTED', 'this host already receives 1 migration(s), its incoming limit: retry later');

const command = (vmId: string, policy: Partial<MigrationPolicy> = {}, dst = '198.18.0.2'): MigrateCommand =>
  remoteCommand(vmId, { dst }, { initialDowntimeMs: 300, ...policy });

function setup(options: { maxOutgoing?: number; limits?: HostLimits; peers?: FakePeers; clock?: ManualClock } = {}) {
  const hypervisor = new FakeHypervisor();
  const peers = options.peers ?? new FakePeers();
  const limits = options.limits ?? new HostLimits({ maxOutgoing: options.maxOutgoing ?? 2, maxIncoming: 2 });
  const migrations = outgoingMigrations({
    hypervisor,
    peers,
    clock: options.clock ?? fastClock,
    maxOutgoing: () => limits.maxOutgoing,
    backoff: { initialMs: 5, maxMs: 20, jitter: 0 },
  });
  limits.onChange(() => migrations.limitsChanged());
  return { hypervisor, peers, migrations, limits };
}

/** Moves the fake job to memory iteration n (libvirt's count: n-1 passes done). */
function iteration(h: FakeHypervisor, n: number): void {
  h.current = stats(100 * n, 400, { iteration: n });
}

test('SET_DOWNTIME steps raise the downtime in order, never lower one raised by hand, and are recorded', async () => {
  const { hypervisor, migrations } = setup();
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(command(VM, { schedule: [it(1, 'set-downtime', 500), it(2, 'set-downtime', 2000)] }));
  await until('perform', () => hypervisor.isMigrating(VM));
  iteration(hypervisor, 2);
  await until('step 1', () => hypervisor.calls.includes('downtime 500'));
  iteration(hypervisor, 3);
  await until('step 2', () => hypervisor.calls.includes('downtime 2000'));
  await migrations.changeParams({ jobId }, { maxDowntimeMs: 5000, startPostCopy: false });
  iteration(hypervisor, 5); // the last step repeats every iteration: never below 5000
  await until('repeat at 5000', () => hypervisor.calls.filter((c) => c === 'downtime 5000').length >= 2);
  assert.ok(!hypervisor.calls.slice(hypervisor.calls.indexOf('downtime 5000')).some((c) => c === 'downtime 2000'));
  hypervisor.complete(VM);
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'completed');
  assert.equal(final.maxDowntimeMs, 5000);
  assert.deepEqual(
    final.convergence.map((r) => `${r.action} ${r.downtimeMs} ${r.reason}`),
    [
      'set-downtime 500 schedule step 1 (after iteration 1)',
      'set-downtime 2000 schedule step 2 (after iteration 2)',
      'set-downtime 5000 ChangeMigrationParams',
    ],
  );
});

test('POST_COPY: a refused switch is retried at the next repeat, then the job is in post-copy and completes', async () => {
  const { hypervisor, migrations } = setup();
  hypervisor.addVm(VM);
  hypervisor.failNext.add('postcopy');
  const { jobId } = await migrations.migrate(command(VM, { postCopy: true, schedule: [it(1, 'post-copy')] }));
  await until('perform', () => hypervisor.isMigrating(VM));
  iteration(hypervisor, 2);
  await until('refusal warned', () => migrations.status({ jobId }).warnings.some((w) => /post-copy.*refused.*retried/.test(w)));
  iteration(hypervisor, 3);
  await until('post-copy', () => migrations.status({ jobId }).phase === 'postcopy');
  assert.deepEqual(
    hypervisor.calls.filter((c) => c === 'postcopy'),
    ['postcopy'],
  );
  hypervisor.complete(VM);
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'completed');
  assert.deepEqual(
    final.convergence.map((r) => r.action),
    ['post-copy'],
  );
  assert.equal(hypervisor.aborted.length, 0);
});

test('SUSPEND pauses the guest once; if the migration then fails, the guest is resumed on the source', async () => {
  const { hypervisor, migrations } = setup();
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(command(VM, { schedule: [it(1, 'suspend')] }));
  await until('perform', () => hypervisor.isMigrating(VM));
  iteration(hypervisor, 2);
  await until('suspend', () => hypervisor.calls.includes('suspend'));
  iteration(hypervisor, 4); // repeats are no-ops on a paused guest
  await sleep(30);
  assert.deepEqual(
    hypervisor.calls.filter((c) => c === 'suspend'),
    ['suspend'],
  );
  hypervisor.failMigration(VM, new FerryError('UNAVAILABLE', 'libvirt: connection reset'));
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'failed');
  assert.equal(hypervisor.calls.at(-1), 'resume');
  assert.deepEqual(final.error?.vmState, { state: 'running', reason: '' });
});

test('an ABORT step aborts: FAILED at step converge, ABORTED, the schedule named', async () => {
  const { hypervisor, peers, migrations } = setup();
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(command(VM, { schedule: [it(1, 'set-downtime', 400), it(2, 'abort')] }));
  await until('perform', () => hypervisor.isMigrating(VM));
  iteration(hypervisor, 3);
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'failed');
  assert.equal(final.error?.step, 'converge');
  assert.equal(final.error?.kind, 'ABORTED');
  assert.match(final.error!.message, /convergence schedule aborted the migration \(schedule step 2 \(after iteration 2\)\)/);
  assert.deepEqual(
    final.convergence.map((r) => r.action),
    ['set-downtime', 'abort'],
  );
  assert.deepEqual(
    peers.finished.map((f) => f.success),
    [false],
  );
});

test('the completion timeout aborts a migration that never converges: DEADLINE_EXCEEDED at step converge', async () => {
  const clock = new ManualClock();
  const { hypervisor, migrations } = setup({ clock });
  hypervisor.addVm(VM); // 256 MiB: counted as 1 GiB, so 1 s/GiB is a 1 s timeout
  const { jobId } = await migrations.migrate(command(VM, { completionTimeoutSPerGib: 1 }));
  await until('perform', () => hypervisor.isMigrating(VM));
  iteration(hypervisor, 2);
  await clock.advance(990);
  assert.equal(migrations.status({ jobId }).phase, 'migrating', 'not aborted before its time');
  assert.deepEqual(hypervisor.aborted, []);
  await clock.advance(20);
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'failed');
  assert.equal(final.error?.kind, 'DEADLINE_EXCEEDED');
  assert.equal(final.error?.step, 'converge');
  assert.match(final.error!.message, /completion timeout of 1 s \(1 s\/GiB × 1\.00 GiB\)/);
  assert.equal(final.completionTimeoutMs, 1000);
  assert.deepEqual(hypervisor.aborted, [VM]);
  assert.equal(final.convergence.at(-1)?.reason, 'completion timeout');
});

test('a busy destination: Migrate still answers (QUEUED, the reason shown), the job retries with backoff and completes', async () => {
  const { hypervisor, peers, migrations } = setup();
  hypervisor.addVm(VM);
  peers.prepareErrors = [BUSY(), BUSY()];
  const accepted = await migrations.migrate(command(VM));
  assert.equal(accepted.phase, 'queued');
  assert.match(accepted.waiting, /destination 198\.18\.0\.2 is busy .*incoming limit.*attempt 2 in/);
  await until('perform after two busy answers', () => hypervisor.isMigrating(VM));
  hypervisor.complete(VM);
  const final = await finalOf(migrations, accepted.jobId);
  assert.equal(final.phase, 'completed');
  assert.equal(final.prepareAttempts, 3);
  assert.equal(final.waiting, '');
});

test('a destination busy until queue_timeout_s: FAILED at step queue with RESOURCE_EXHAUSTED; the VM never left', async () => {
  const clock = new ManualClock();
  const { hypervisor, peers, migrations } = setup({ clock });
  hypervisor.addVm(VM);
  peers.prepareError = BUSY();
  const accepted = await migrations.migrate(command(VM, { queueTimeoutS: 1 }));
  await clock.advance(990);
  assert.equal(migrations.status({ jobId: accepted.jobId }).phase, 'queued', 'still retrying before queue_timeout_s');
  await clock.advance(20);
  const final = await finalOf(migrations, accepted.jobId);
  assert.equal(final.phase, 'failed');
  assert.equal(final.error?.step, 'queue');
  assert.equal(final.error?.kind, 'RESOURCE_EXHAUSTED');
  assert.match(final.error!.message, /stayed busy for queue_timeout 1 s/);
  assert.ok(final.prepareAttempts > 2, String(final.prepareAttempts));
  assert.equal(hypervisor.plans.length, 0);
});

test('while it waits for a busy destination a job gives its slot back, and can be cancelled', async () => {
  class OneBusyDestination extends FakePeers {
    override async prepareIncoming(dst: string, args: PrepareIncomingArgs): Promise<IncomingOffer> {
      if (dst === 'busy.example') {
        this.attempts.push(args.jobId);
        throw BUSY();
      }
      return super.prepareIncoming(dst, args);
    }
  }
  const peers = new OneBusyDestination();
  const { hypervisor, migrations } = setup({ maxOutgoing: 1, peers });
  hypervisor.addVm(VM);
  hypervisor.addVm(VM2);
  const waiting = await migrations.migrate(command(VM, {}, 'busy.example'));
  assert.equal(waiting.phase, 'queued');
  const other = await migrations.migrate(command(VM2));
  await until('the other job runs in the freed slot', () => hypervisor.isMigrating(VM2));
  const cancelled = await migrations.cancel({ jobId: waiting.jobId });
  assert.equal(cancelled.phase, 'cancelled');
  const attempts = peers.attempts.filter((id) => id === waiting.jobId).length;
  await sleep(50);
  assert.equal(peers.attempts.filter((id) => id === waiting.jobId).length, attempts, 'no attempt after the cancel');
  hypervisor.complete(VM2);
  assert.equal((await finalOf(migrations, other.jobId)).phase, 'completed');
  assert.equal(hypervisor.isMigrating(VM), false);
});

test('over the outgoing limit until queue_timeout_s: FAILED at step queue, naming limits.max_outgoing', async () => {
  const clock = new ManualClock();
  const { hypervisor, migrations } = setup({ maxOutgoing: 1, clock });
  hypervisor.addVm(VM);
  hypervisor.addVm(VM2);
  const first = await migrations.migrate(command(VM));
  const second = await migrations.migrate(command(VM2, { queueTimeoutS: 1 }));
  assert.equal(second.phase, 'queued');
  assert.match(second.waiting, /outgoing slots/);
  await clock.advance(990);
  assert.equal(migrations.status({ jobId: second.jobId }).phase, 'queued', 'still waiting before queue_timeout_s');
  await clock.advance(20);
  const final = await finalOf(migrations, second.jobId);
  assert.equal(final.phase, 'failed');
  assert.match(final.error!.message, /no outgoing slot became free within queue_timeout 1 s: raise limits.max_outgoing/);
  hypervisor.complete(VM);
  assert.equal((await finalOf(migrations, first.jobId)).phase, 'completed');
});

test('raising the outgoing limit at run time starts queued jobs at once; lowering it lets running ones finish', async () => {
  const limits = new HostLimits({ maxOutgoing: 1, maxIncoming: 2 });
  const { hypervisor, migrations } = setup({ limits });
  for (const id of [VM, VM2, VM3]) hypervisor.addVm(id);
  const jobs = [await migrations.migrate(command(VM)), await migrations.migrate(command(VM2)), await migrations.migrate(command(VM3))];
  assert.deepEqual(
    jobs.map((j) => j.phase),
    ['preparing', 'queued', 'queued'],
  );
  await until('first', () => hypervisor.isMigrating(VM));
  limits.set({ maxOutgoing: 3 });
  await until('all three run', () => hypervisor.isMigrating(VM2) && hypervisor.isMigrating(VM3));
  limits.set({ maxOutgoing: 1 });
  for (const id of [VM, VM2, VM3]) hypervisor.complete(id);
  for (const j of jobs) assert.equal((await finalOf(migrations, j.jobId)).phase, 'completed');
  assert.throws(() => limits.set({ maxIncoming: 0 }), /max_incoming: must be from 1 to 64/);
  assert.equal(limits.maxIncoming, 2);
});

test('copy_storage: the disks go to the destination to create, their devices to libvirt, and their size into the completion timeout', async () => {
  const { hypervisor, peers, migrations } = setup();
  hypervisor.addVm(VM);
  hypervisor.disks = [
    {
      target: 'vda',
      path: '/var/lib/libvirt/images/a.qcow2',
      format: 'qcow2',
      capacityBytes: 4 * 1024 ** 3,
      allocationBytes: 2 * 1024 ** 3,
      backingPath: '/shared/base.qcow2',
      backingFormat: 'qcow2',
    },
  ];
  const all = await migrations.migrate(command(VM, { copyStorage: 'all', completionTimeoutSPerGib: 60 }));
  await until('perform', () => hypervisor.isMigrating(VM));
  assert.deepEqual(peers.prepared[0]!.disks, [
    {
      target: 'vda',
      path: '/var/lib/libvirt/images/a.qcow2',
      format: 'qcow2',
      capacityBytes: 4 * 1024 ** 3,
      allocationBytes: 2 * 1024 ** 3,
    },
  ]);
  assert.equal(peers.prepared[0]!.copyStorage, true);
  assert.deepEqual(hypervisor.plans[0]!.migrateDisks, ['vda']);
  await until('timeout known', () => migrations.status({ jobId: all.jobId }).completionTimeoutMs > 0);
  assert.equal(migrations.status({ jobId: all.jobId }).completionTimeoutMs, 135_000); // 60 s × (0.25 + 2) GiB
  hypervisor.complete(VM);
  await finalOf(migrations, all.jobId);
  hypervisor.addVm(VM2);
  const inc = await migrations.migrate(command(VM2, { copyStorage: 'incremental' }));
  await until('perform', () => hypervisor.isMigrating(VM2));
  assert.equal(peers.prepared[1]!.disks![0]!.backingPath, '/shared/base.qcow2');
  hypervisor.complete(VM2);
  await finalOf(migrations, inc.jobId);
});
