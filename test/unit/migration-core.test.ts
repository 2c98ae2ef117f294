// The migration core's logic with in-memory ports: host-side checks, the
// phases of a job, failure and cancel paths, and the outgoing limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTIN_DEFAULTS } from '../../agent/migration/policy/policy.js';
import type { MigrateCommand } from '../../agent/migration/types.js';
import { isFerryError, FerryError } from '../../shared/errors.js';
import { FakeHypervisor, FakeNetwork, FakePeers, stats } from '../support/fake-ports.js';
import { finalOf, outgoingMigrations, remoteCommand } from '../support/migration-fixtures.js';
import { sleep, until } from '../support/wait.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const VM2 = '7f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f51';

const command = (vmId = VM, extra: Partial<MigrateCommand> = {}) => remoteCommand(vmId, extra);

function setup(maxOutgoing = 2) {
  const hypervisor = new FakeHypervisor();
  const peers = new FakePeers();
  const network = new FakeNetwork();
  const transitions: string[] = [];
  const migrations = outgoingMigrations({
    hypervisor,
    peers,
    network,
    maxOutgoing: () => maxOutgoing,
    onTransition: (s) => transitions.push(`${s.jobId.slice(0, 4)}:${s.phase}`),
  });
  return { hypervisor, peers, network, migrations, transitions };
}

test('host-side checks: unknown VM, VM not running, second job for one VM', async () => {
  const { hypervisor, migrations } = setup();
  await assert.rejects(migrations.migrate(command()), (e) => isFerryError(e, 'NOT_FOUND'));
  hypervisor.addVm(VM, 'shutoff');
  await assert.rejects(
    migrations.migrate(command()),
    (e) => isFerryError(e, 'FAILED_PRECONDITION') && /shutoff/.test(e.message) && e.reason === 'VM_NOT_RUNNING',
  );
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(command());
  await assert.rejects(migrations.migrate(command()), (e) => isFerryError(e, 'ALREADY_EXISTS') && e.reason === 'ALREADY_MIGRATING');
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.complete(VM);
  await finalOf(migrations, jobId);
});

test('a successful migration goes preparing → migrating → completed, with the offer used and the destination told', async () => {
  const { hypervisor, peers, migrations, network } = setup();
  hypervisor.addVm(VM);
  const accepted = await migrations.migrate(command());
  assert.equal(accepted.phase, 'preparing');
  await until('perform', () => hypervisor.isMigrating(VM));
  assert.equal(peers.prepared[0]!.sourceMigrationAddress, '198.19.0.1');
  assert.equal(hypervisor.plans[0]!.migrateUri, 'tcp://198.19.0.2:49152');
  assert.equal(hypervisor.plans[0]!.dconnuri, 'qemu+tcp://198.18.0.2/system');
  hypervisor.current = stats(100, 300);
  await until('progress', () => migrations.status({ jobId: accepted.jobId }).progressPercent === 25);
  hypervisor.current = stats(50, 950); // a new pass: the percentage must not go back
  await sleep(30);
  assert.equal(migrations.status({ jobId: accepted.jobId }).progressPercent, 25);
  network.tx.set('eth1', 5_000_000);
  network.tx.set('eth0', 1_000);
  hypervisor.complete(VM);
  const final = await finalOf(migrations, accepted.jobId);
  assert.equal(final.phase, 'completed');
  assert.equal(final.progressPercent, 100);
  assert.equal(final.network, 'migration');
  assert.equal(final.bytesOnMigrationNic, 5_000_000);
  assert.equal(final.bytesOnManagementNic, 1_000);
  assert.equal(final.libvirtElapsedMs, 1_234, "libvirt's own job time, from its final statistics");
  assert.deepEqual(peers.finished, [{ jobId: accepted.jobId, success: true }]);
});

test("a route to dstqemu through the management NIC: warned by name, and the bytes counted where they went, not on the migration NIC's account", async () => {
  const { hypervisor, migrations, network } = setup();
  hypervisor.addVm(VM);
  network.routeTo = async () => ({ source: '198.19.0.1', interface: 'eth0' }); // the operator's mistake
  const accepted = await migrations.migrate(command());
  await until('perform', () => hypervisor.isMigrating(VM));
  network.tx.set('eth0', 5_000_000);
  hypervisor.complete(VM);
  const final = await finalOf(migrations, accepted.jobId);
  assert.equal(final.phase, 'completed');
  assert.ok(final.warnings.includes('the route to 198.19.0.2 leaves through the management NIC eth0'), final.warnings.join('; '));
  assert.deepEqual([final.bytesOnMigrationNic, final.bytesOnManagementNic], [0, 5_000_000]);
});

test("a libvirt failure ends FAILED at step perform with libvirt's code, and the destination is told", async () => {
  const { hypervisor, peers, migrations } = setup();
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(command());
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.failMigration(
    VM,
    new FerryError('UNAVAILABLE', 'unable to connect to server', { libvirtCode: 38, libvirtName: 'VIR_ERR_SYSTEM_ERROR' }),
  );
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'failed');
  assert.equal(final.error?.step, 'perform');
  assert.equal(final.error?.libvirtCode, 38);
  assert.deepEqual(final.error?.vmState, { state: 'running', reason: '' });
  assert.deepEqual(peers.finished, [{ jobId, success: false }]);
});

test('a destination that refuses to prepare fails the Migrate call itself, leaving no job and no libvirt call', async () => {
  const { hypervisor, peers, migrations } = setup();
  hypervisor.addVm(VM);
  peers.prepareError = new FerryError('INVALID_ARGUMENT', 'dstqemu: 198.19.0.9 is not an address of the destination host');
  await assert.rejects(migrations.migrate(command()), (e) => isFerryError(e, 'INVALID_ARGUMENT') && /dstqemu/.test(e.message));
  assert.equal(hypervisor.plans.length, 0);
  assert.deepEqual(migrations.list(false), []);
  peers.prepareError = undefined;
  const { jobId } = await migrations.migrate(command());
  await until('perform after a refused attempt', () => hypervisor.isMigrating(VM));
  hypervisor.complete(VM);
  assert.equal((await finalOf(migrations, jobId)).phase, 'completed');
});

test('a queued job whose destination refuses ends FAILED at step prepare', async () => {
  const { hypervisor, peers, migrations } = setup(1);
  hypervisor.addVm(VM);
  hypervisor.addVm(VM2);
  const first = await migrations.migrate(command(VM));
  const second = await migrations.migrate(command(VM2));
  assert.equal(second.phase, 'queued');
  // Not "busy" (RESOURCE_EXHAUSTED, which is retried): a refusal for good.
  peers.prepareError = new FerryError('FAILED_PRECONDITION', 'the destination has no address in migration_network');
  await until('first perform', () => hypervisor.isMigrating(VM));
  hypervisor.complete(VM);
  const final = await finalOf(migrations, second.jobId);
  assert.equal(final.phase, 'failed');
  assert.equal(final.error?.step, 'prepare');
  assert.deepEqual(final.error?.vmState, { state: 'running', reason: '' });
  assert.equal((await finalOf(migrations, first.jobId)).phase, 'completed');
});

test('cancel aborts the libvirt job and ends CANCELLED with the VM on the source', async () => {
  const { hypervisor, migrations } = setup();
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(command());
  await until('perform', () => hypervisor.isMigrating(VM));
  const status = await migrations.cancel({ vmId: VM });
  assert.equal(status.phase, 'cancelled');
  assert.deepEqual(hypervisor.aborted, [VM]);
  await assert.rejects(migrations.cancel({ jobId }), (e) => isFerryError(e, 'FAILED_PRECONDITION') && e.reason === 'JOB_FINISHED');
});

test('over the outgoing limit a job waits QUEUED, can be cancelled there, and runs when a slot frees', async () => {
  const { hypervisor, migrations } = setup(1);
  const VM3 = '8f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f52';
  for (const id of [VM, VM2, VM3]) hypervisor.addVm(id);
  const first = await migrations.migrate(command(VM));
  const second = await migrations.migrate(command(VM2));
  const third = await migrations.migrate(command(VM3));
  assert.deepEqual([first.phase, second.phase, third.phase], ['preparing', 'queued', 'queued']);
  assert.deepEqual(migrations.counts(), { running: 1, queued: 2 });
  const cancelled = await migrations.cancel({ jobId: second.jobId });
  assert.equal(cancelled.phase, 'cancelled');
  await until('first perform', () => hypervisor.isMigrating(VM));
  assert.equal(hypervisor.isMigrating(VM3), false);
  hypervisor.complete(VM);
  await until('third perform', () => hypervisor.isMigrating(VM3));
  hypervisor.complete(VM3);
  assert.equal((await finalOf(migrations, third.jobId)).phase, 'completed');
  assert.equal(hypervisor.isMigrating(VM2), false);
});

test('lookups: unknown job is NOT_FOUND; by VM finds the latest job', async () => {
  const { hypervisor, migrations } = setup();
  assert.throws(
    () => migrations.status({ jobId: 'nope' }),
    (e) => isFerryError(e, 'NOT_FOUND') && e.reason === 'JOB_NOT_FOUND',
  );
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(command());
  assert.equal(migrations.status({ vmId: VM }).jobId, jobId);
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.complete(VM);
  await finalOf(migrations, jobId);
  assert.equal(migrations.status({ vmId: VM }).phase, 'completed');
});

test('a migration whose data remaining reaches no new low for the stall timeout is aborted and ends FAILED', async () => {
  const { hypervisor, migrations } = setup();
  hypervisor.addVm(VM);
  const cmd = command();
  cmd.policy.stallTimeoutS = 1;
  const { jobId } = await migrations.migrate(cmd);
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.current = stats(100, 900); // and it never changes: a dead link
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'failed');
  assert.equal(final.error?.kind, 'DEADLINE_EXCEEDED');
  assert.match(final.error?.message ?? '', /no progress for 1 s/);
  assert.deepEqual(hypervisor.aborted, [VM]);
  assert.deepEqual(final.error?.vmState, { state: 'running', reason: '' });
});

test("Migrate resolves the caller's policy in the core: the host's defaults (read at every call), then what its libvirt supports", async () => {
  const hypervisor = new FakeHypervisor();
  let defaults = { ...BUILTIN_DEFAULTS, maxBandwidthMibps: 500 };
  const migrations = outgoingMigrations({
    hypervisor,
    policyDefaults: () => defaults,
  });
  hypervisor.addVm(VM);
  hypervisor.addVm(VM2);
  hypervisor.hostFeatures = {
    multifdCompression: true,
    postCopyWithParallel: false,
    versions: 'libvirt 10.0.0, QEMU 8.2.0',
    libvirtVersion: 10_000_000,
    qemuVersion: 8_002_000,
  };
  const first = await migrations.migrate({ ...command(VM), policy: { parallelConnections: 4 } });
  assert.equal(first.policy.maxBandwidthMibps, 500, 'unset: the host default');
  assert.equal(first.policy.parallelConnections, 4);
  assert.equal(first.policy.compression, 'zstd', 'multifd with a libvirt that compresses it');
  defaults = { ...defaults, maxBandwidthMibps: 100 };
  const second = await migrations.migrate({ ...command(VM2), policy: { maxBandwidthMibps: 50 } });
  assert.equal(second.policy.maxBandwidthMibps, 50, "set: the caller's");
  await assert.rejects(
    migrations.migrate({ ...command(VM), policy: { preset: 'fastest' } }),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /unknown preset/.test(e.message),
  );
  await assert.rejects(
    migrations.migrate({ ...command(VM), policy: { parallelConnections: 2, postCopy: true } }),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /QEMU >= 10\.1 \(this host: libvirt 10\.0\.0, QEMU 8\.2\.0\)/.test(e.message),
  );
  await until('both perform', () => hypervisor.isMigrating(VM) && hypervisor.isMigrating(VM2));
  hypervisor.complete(VM);
  hypervisor.complete(VM2);
  assert.equal((await finalOf(migrations, second.jobId)).phase, 'completed');
});

test('from Migrate to perform, each look-up once: one describe of the VM, one route (to dstqemu, where the destination listens)', async () => {
  const { hypervisor, network, migrations } = setup();
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(command());
  await until('perform', () => hypervisor.isMigrating(VM));
  assert.equal(hypervisor.describes, 1);
  assert.deepEqual(network.routed, ['198.19.0.2']);
  hypervisor.complete(VM);
  assert.equal((await finalOf(migrations, jobId)).phase, 'completed');
});
