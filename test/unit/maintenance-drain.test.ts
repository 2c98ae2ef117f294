// The drain of a maintenance (agent/maintenance/): which destination each VM
// tries first (free memory, the drain's own VMs counted), how many migrate at
// once, and where each VM ends — MIGRATED, UNMOVABLE with every destination's
// reasons, FAILED after every destination whose checks passed, GONE — over
// in-memory ports (test/support/fake-drain.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FerryError } from '../../shared/errors.js';
import type { Maintenance } from '../../agent/maintenance/index.js';
import type { Finding } from '../../agent/migration/index.js';
import { FakeDrainMigrations, drained, enterRequest, setup, vm } from '../support/fake-drain.js';
import { settle } from '../support/fake-ports.js';

const GiB = 2 ** 30;

const stateOf = (m: Maintenance) => Object.fromEntries(m.vms.map((v) => [v.name, `${v.state}${v.destination ? `@${v.destination}` : ''}`]));

test('the largest VM goes first, each to the destination with the most free memory left once the VMs sent there are counted', async () => {
  const { mode, migrations } = setup([vm('d', 1), vm('b', 3), vm('a', 4), vm('c', 2)], { lab2: 8 * GiB, lab3: 6 * GiB, lab4: 5 * GiB });
  migrations.autoEnd = 'completed';
  await mode.enter(enterRequest());
  const end = await drained(mode);
  // a (4 GiB) → lab2 (8 → 4 left); b (3) → lab3 (6 → 3); c (2) → lab4 (5 → 3); d (1) → lab2 (4 left, the most).
  assert.deepEqual(
    migrations.started.map((r) => [r.vmId, r.dst]),
    [
      [vm('a').id, 'lab2'],
      [vm('b').id, 'lab3'],
      [vm('c').id, 'lab4'],
      [vm('d').id, 'lab2'],
    ],
  );
  assert.equal(end.phase, 'drained');
  assert.deepEqual(stateOf(end), { a: 'migrated@lab2', b: 'migrated@lab3', c: 'migrated@lab4', d: 'migrated@lab2' });
  assert.deepEqual(
    end.vms.map((v) => v.name),
    ['a', 'b', 'c', 'd'],
    'listed by name',
  );
  assert.ok(end.drainedAt !== undefined);
});

test('lanes choosing at once spread too: a destination being checked for one VM holds its memory for the others', async () => {
  // Each lane alone would pick lab2 (the most free); with the others' picks counted: lab2 (10 → 7), lab3 (9 → 6), lab4 (8).
  const { mode, migrations } = setup([vm('a', 3), vm('b', 3), vm('c', 3)], { lab2: 10 * GiB, lab3: 9 * GiB, lab4: 8 * GiB });
  migrations.autoEnd = 'completed';
  await mode.enter(enterRequest(undefined, { maxParallel: 3 }));
  await drained(mode);
  assert.deepEqual(migrations.destinations().sort(), ['lab2', 'lab3', 'lab4']);
});

test('a destination whose memory cannot be read comes last; its checks still decide', async () => {
  const { mode, migrations } = setup([vm('a')], { lab3: 1 * GiB });
  migrations.blocking.set(FakeDrainMigrations.key(vm('a').id, 'lab3'), [finding('MEMORY_INSUFFICIENT')]);
  migrations.autoEnd = 'completed';
  await mode.enter(enterRequest(['lab2', 'lab3']));
  const end = await drained(mode);
  assert.deepEqual(
    migrations.checks.map((c) => c.dst),
    ['lab3', 'lab2'],
  );
  assert.deepEqual(stateOf(end), { a: 'migrated@lab2' });
});

test('at most max_parallel migrations at once; 0 means the outgoing limit', async () => {
  const five = ['a', 'b', 'c', 'd', 'e'].map((n) => vm(n));
  const { mode, migrations } = setup(five);
  await mode.enter(enterRequest(undefined, { maxParallel: 2 }));
  await settle();
  assert.equal(migrations.running().length, 2);
  const [first] = migrations.running();
  migrations.end(first?.jobId ?? '', 'completed');
  await settle();
  assert.equal(migrations.running().length, 2, 'a freed lane takes the next VM');
  assert.equal(migrations.started.length, 3);
  for (let i = 0; i < 10 && mode.phase() === 'draining'; i++) {
    for (const job of migrations.running()) migrations.end(job.jobId, 'completed');
    await settle();
  }
  assert.equal(mode.phase(), 'drained');
  assert.equal(migrations.peak, 2);

  const other = setup(five);
  other.host.outgoingLimit = 3;
  const entered = await other.mode.enter(enterRequest(undefined, { maxParallel: 0 }));
  assert.equal(entered.maxParallel, 3);
  await settle();
  assert.equal(other.migrations.running().length, 3);
});

test("a VM no destination passes the checks for stays UNMOVABLE with every destination's blocking findings; the drain ends INCOMPLETE", async () => {
  const { mode, migrations, events } = setup([vm('big', 4), vm('small', 1)]);
  migrations.autoEnd = 'completed';
  const big = vm('big').id;
  migrations.blocking.set(FakeDrainMigrations.key(big, 'lab2'), [finding('MEMORY_INSUFFICIENT'), finding('CPU_INCOMPATIBLE')]);
  migrations.blocking.set(FakeDrainMigrations.key(big, 'lab3'), [finding('NETWORK_MISSING')]);
  migrations.blocking.set(FakeDrainMigrations.key(big, 'lab4'), [finding('DESTINATION_IN_MAINTENANCE')]);
  await mode.enter(enterRequest());
  const end = await drained(mode);
  assert.equal(end.phase, 'incomplete');
  const stuck = end.vms.find((v) => v.name === 'big');
  assert.equal(stuck?.state, 'unmovable');
  assert.deepEqual(
    stuck?.attempts.map((a) => [a.destination, a.blocking.map((f) => f.reason), a.jobId, a.error]),
    [
      ['lab2', ['MEMORY_INSUFFICIENT', 'CPU_INCOMPATIBLE'], '', undefined],
      ['lab3', ['NETWORK_MISSING'], '', undefined],
      ['lab4', ['DESTINATION_IN_MAINTENANCE'], '', undefined],
    ],
  );
  assert.ok(!migrations.started.some((r) => r.vmId === big), 'never forced');
  assert.deepEqual(stateOf(end).small, 'migrated@lab2', 'the memory big would have taken on lab2 is free again');
  assert.ok(events.includes('big:unmovable') && events.at(-1) === 'drained', events.join(' '));
});

test('a migration that fails (the destination died) goes on to the next destination whose checks pass; none left: FAILED', async () => {
  const { mode, migrations } = setup([vm('a')]);
  const died = { step: 'perform', message: 'lab2 stopped answering', kind: 'UNAVAILABLE' as const };
  migrations.failingDestinations.set('lab2', died);
  migrations.blocking.set(FakeDrainMigrations.key(vm('a').id, 'lab3'), [finding('MEMORY_INSUFFICIENT')]);
  migrations.autoEnd = 'completed';
  await mode.enter(enterRequest());
  const end = await drained(mode);
  const a = end.vms[0];
  assert.equal(a?.state, 'migrated');
  assert.equal(a?.destination, 'lab4');
  assert.deepEqual(
    a?.attempts.map((t) => [t.destination, t.jobId !== '', t.error?.message ?? t.blocking.map((f) => f.reason).join()]),
    [
      ['lab2', true, 'lab2 stopped answering'],
      ['lab3', false, 'MEMORY_INSUFFICIENT'],
    ],
  );
  assert.equal(end.phase, 'drained');

  const all = setup([vm('a')]);
  for (const dst of ['lab2', 'lab3', 'lab4']) all.migrations.failingDestinations.set(dst, { ...died, message: `${dst} died` });
  all.migrations.refusals.set(
    FakeDrainMigrations.key(vm('a').id, 'lab4'),
    new FerryError('UNAVAILABLE', 'destination agent lab4 is not reachable', { reason: 'DESTINATION_UNREACHABLE' }),
  );
  await all.mode.enter(enterRequest());
  const failed = await drained(all.mode);
  assert.equal(failed.vms[0]?.state, 'failed');
  assert.deepEqual(
    failed.vms[0]?.attempts.map((t) => [t.destination, t.error?.message ?? t.blocking.map((f) => `${f.reason}: ${f.message}`).join()]),
    [
      ['lab2', 'lab2 died'],
      ['lab3', 'lab3 died'],
      // A destination that does not answer Migrate is what CheckMigration reports: a blocking finding.
      ['lab4', 'DESTINATION_UNREACHABLE: destination agent lab4 is not reachable: check dst and that ferryd runs there'],
    ],
  );
  assert.equal(failed.phase, 'incomplete');
});

test('a destination that did not answer goes last for the VMs after, whatever its free memory', async () => {
  const { mode, migrations } = setup([vm('a', 2), vm('b', 1)], { lab2: 8 * GiB, lab3: 4 * GiB });
  migrations.autoEnd = 'completed';
  migrations.refusals.set(
    FakeDrainMigrations.key(vm('a').id, 'lab2'),
    new FerryError('DEADLINE_EXCEEDED', 'destination agent lab2 did not answer PrepareIncoming within 30 s', {
      reason: 'DESTINATION_TIMEOUT',
    }),
  );
  await mode.enter(enterRequest(['lab2', 'lab3']));
  await drained(mode);
  assert.deepEqual(
    migrations.checks.map((c) => [c.vmId === vm('a').id ? 'a' : 'b', c.dst]),
    [
      ['a', 'lab2'],
      ['a', 'lab3'],
      ['b', 'lab3'],
    ],
  );
});

test('a VM that stopped or vanished before its turn is GONE, nothing migrated; GONE counts as left for DRAINED', async () => {
  const { mode, migrations, host } = setup([vm('a'), vm('b'), vm('c')]);
  migrations.autoEnd = 'completed';
  host.vms = host.vms.filter((v) => v.name !== 'b').map((v) => (v.name === 'c' ? { ...v, state: 'shutoff' } : v));
  await mode.enter(enterRequest());
  assert.deepEqual(
    mode.get().vms.map((v) => v.name),
    ['a'],
    'only running or paused VMs are drained',
  );

  const later = setup([vm('a'), vm('b'), vm('c', 1, 'paused')]);
  later.migrations.blocking.set(FakeDrainMigrations.key(vm('c').id, 'lab2'), [
    { reason: 'VM_NOT_RUNNING', side: 'source', message: 'VM c is shutoff' },
  ]);
  await later.mode.enter(enterRequest());
  later.host.vms = later.host.vms.filter((v) => v.name !== 'b');
  later.migrations.autoEnd = 'completed';
  for (const job of later.migrations.running()) later.migrations.end(job.jobId, 'completed');
  const end = await drained(later.mode);
  assert.deepEqual(stateOf(end), { a: 'migrated@lab2', b: 'gone', c: 'gone' });
  assert.equal(end.phase, 'drained');
  assert.ok(!later.migrations.started.some((r) => r.vmId !== vm('a').id));
});

test('a VM whose migration job already runs at entry is followed, not started again', async () => {
  const { mode, migrations } = setup([vm('a'), vm('b')]);
  const existing = migrations.add(vm('a').id, 'lab9', 'engine-job');
  await mode.enter(enterRequest());
  const now = mode.get();
  assert.deepEqual([now.vms[0]?.state, now.vms[0]?.jobId, now.vms[0]?.destination], ['migrating', 'engine-job', 'lab9']);
  await settle();
  assert.deepEqual(
    migrations.started.map((r) => r.vmId),
    [],
    'the followed job holds the only lane',
  );
  migrations.autoEnd = 'completed';
  migrations.end(existing.status.jobId, 'completed');
  const end = await drained(mode);
  assert.deepEqual(stateOf(end), { a: 'migrated@lab9', b: 'migrated@lab2' });
  assert.deepEqual(
    migrations.started.map((r) => r.vmId),
    [vm('b').id],
  );
});

test('every migration of the drain carries its policy, migration network, and each destination its own dstqemu', async () => {
  const { mode, migrations } = setup([vm('a'), vm('b')], { lab2: 8 * GiB, lab3: 8 * GiB });
  migrations.autoEnd = 'completed';
  await mode.enter({
    destinations: [
      { host: 'lab2', dstqemu: '198.19.0.2' },
      { host: 'lab3', dstqemu: '' },
    ],
    migrationNetwork: '198.19.0.0/24',
    policy: { postCopy: true, maxBandwidthMibps: 500 },
    maxParallel: 1,
  });
  await drained(mode);
  assert.deepEqual(
    migrations.started.map((r) => [r.dst, r.dstqemu, r.migrationNetwork, r.policy, r.mode]),
    [
      ['lab2', '198.19.0.2', '', { postCopy: true, maxBandwidthMibps: 500 }, 'remote'],
      ['lab3', '', '198.19.0.0/24', { postCopy: true, maxBandwidthMibps: 500 }, 'remote'],
    ],
  );
});

function finding(reason: Finding['reason']): Finding {
  return { reason, side: 'destination', message: `${reason.toLowerCase()} there` };
}
