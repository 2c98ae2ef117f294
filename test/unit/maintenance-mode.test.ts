// The maintenance as a whole (agent/maintenance/maintenance-mode.ts): a repeated
// Enter answers the one under way and a different one is refused; what is
// refused up front; leaving it with and without cancelling; the journal that
// brings it back after a restart (pending VMs started, running jobs
// re-attached by id); WatchMaintenance; and the incoming side refusing while
// the host is in maintenance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Maintenance, MaintenanceMode } from '../../agent/maintenance/index.js';
import { drained, enterRequest, setup, vm } from '../support/fake-drain.js';
import type { IncomingCheckArgs } from '../../agent/migration/index.js';
import { remoteCommand } from '../support/migration-fixtures.js';
import { plainGuest, settle } from '../support/fake-ports.js';
import { incomingMigrations, prepareArgs } from '../support/migration-fixtures.js';
import { refusal } from '../support/refusal.js';

test('Enter again with the same request answers the maintenance under way; another request is MAINTENANCE_IN_PROGRESS', async () => {
  const { mode, migrations } = setup([vm('a')]);
  const first = await mode.enter(enterRequest(['lab2', 'lab3'], { policy: { postCopy: true, maxBandwidthMibps: 100 } }));
  assert.equal(first.phase, 'draining');
  // The same request, its policy's fields in another order: the same maintenance, nothing started twice.
  const again = await mode.enter(enterRequest(['lab2', 'lab3'], { policy: { maxBandwidthMibps: 100, postCopy: true } }));
  assert.equal(again.enteredAt, first.enteredAt);
  await settle();
  assert.equal(migrations.started.length, 1);
  for (const other of [
    enterRequest(['lab3', 'lab2'], { policy: { postCopy: true, maxBandwidthMibps: 100 } }),
    enterRequest(['lab2', 'lab3'], { policy: { postCopy: true } }),
    enterRequest(['lab2', 'lab3'], { policy: { postCopy: true, maxBandwidthMibps: 100 }, maxParallel: 2 }),
  ]) {
    const err = await refusal(mode.enter(other));
    assert.equal(err.kind, 'FAILED_PRECONDITION');
    assert.equal(err.reason, 'MAINTENANCE_IN_PROGRESS');
    assert.match(err.message, /already under way \(draining, to lab2, lab3\).*ExitMaintenance first/);
  }
  // Still so once the drain has ended: the host stays in maintenance until ExitMaintenance.
  migrations.autoEnd = 'completed';
  for (const job of migrations.running()) migrations.end(job.jobId, 'completed');
  assert.equal((await drained(mode)).phase, 'drained');
  assert.equal(mode.inMaintenance(), true);
  assert.equal((await refusal(mode.enter(enterRequest(['lab4'])))).reason, 'MAINTENANCE_IN_PROGRESS');
  assert.equal((await mode.enter(enterRequest(['lab2', 'lab3'], { policy: { postCopy: true, maxBandwidthMibps: 100 } }))).phase, 'drained');
});

test('refused up front, nothing entered: no destination, one given twice, this host, a name that does not resolve, max_parallel, a bad policy', async () => {
  const { mode, host, migrations } = setup([vm('a')]);
  host.resolves.set('me.example', '198.19.0.1'); // one of this host's own addresses
  const cases: Array<[ReturnType<typeof enterRequest>, RegExp]> = [
    [enterRequest([]), /^destinations: needs at least one/],
    [enterRequest(['lab2', 'LAB2:54321']), /^destinations\[1\]\.host: LAB2:54321 is already destinations\[0\]/],
    [enterRequest(['lab2', 'lab1']), /^destinations\[1\]\.host: lab1 is this host \(one of its names\)/],
    [enterRequest(['localhost:5000']), /is this host/],
    [enterRequest(['me.example']), /^destinations\[0\]\.host: me\.example is this host \(it resolves to 198\.19\.0\.1/],
    [enterRequest(['127.0.0.1']), /is this host \(it resolves to 127\.0\.0\.1/],
    [enterRequest(['nowhere']), /^destinations\[0\]\.host: nowhere does not resolve/],
    [enterRequest(['lab2'], { maxParallel: 65 }), /^max_parallel: must be 0 \(the outgoing limit\) to 64; got 65/],
    [enterRequest(['lab2'], { policy: { preset: 'warp-speed' } }), /^policy\.preset: unknown preset "warp-speed"/],
  ];
  for (const [request, message] of cases) {
    const err = await refusal(mode.enter(request));
    assert.equal(err.kind, 'INVALID_ARGUMENT', `${err.message}`);
    assert.match(err.message, message);
    assert.equal(mode.inMaintenance(), false, `${err.message}: not in maintenance`);
  }
  assert.deepEqual(migrations.checks, []);
});

test('Exit: incoming accepted again, no further VM started, the running migration goes on unless cancel_migrations', async () => {
  const { mode, migrations, events } = setup([vm('a'), vm('b'), vm('c')]);
  await mode.enter(enterRequest(undefined, { maxParallel: 1 }));
  await settle();
  const [running] = migrations.running();
  assert.ok(running);
  const ended = await mode.exit({ cancelMigrations: false });
  assert.equal(ended.phase, 'off');
  assert.deepEqual(
    ended.vms.map((v) => v.state),
    ['migrating', 'pending', 'pending'],
    'as they stood',
  );
  assert.equal(mode.inMaintenance(), false);
  assert.deepEqual(mode.get(), { phase: 'off', destinations: [], migrationNetwork: '', policy: {}, maxParallel: 0, vms: [] });
  migrations.end(running.jobId, 'completed');
  await settle();
  assert.equal(migrations.started.length, 1, 'nothing started after Exit');
  assert.deepEqual(migrations.cancelled, []);
  assert.ok(events.includes('exited'));
  // Leaving when not in maintenance answers OFF.
  assert.equal((await mode.exit({ cancelMigrations: true })).phase, 'off');

  const other = setup([vm('a'), vm('b')]);
  await other.mode.enter(enterRequest(undefined, { maxParallel: 2 }));
  await settle();
  assert.equal(other.migrations.running().length, 2);
  await other.mode.exit({ cancelMigrations: true });
  assert.deepEqual(other.migrations.cancelled.sort(), ['job-1', 'job-2']);
});

test('the journal: durable when Enter answers; a restarted agent is in maintenance at once, re-attaches to its jobs by id and starts the VMs left', async () => {
  const first = setup([vm('a'), vm('b'), vm('c'), vm('d')]);
  await first.mode.enter(enterRequest(['lab2', 'lab3'], { maxParallel: 1 }));
  assert.equal(first.journal.records.get('maintenance')?.data.maintenance.phase, 'draining', 'on disk before the answer');
  await settle();
  const [jobA] = first.migrations.running();
  first.migrations.end(jobA?.jobId ?? '', 'completed');
  await settle();
  // a migrated, b migrating (job-2), c and d pending: the agent dies here (SIGKILL: nothing more is written).
  const record = first.journal.records.get('maintenance');
  assert.deepEqual(
    record?.data.maintenance.vms.map((v) => [v.name, v.state, v.jobId]),
    [
      ['a', 'migrated', 'job-1'],
      ['b', 'migrating', 'job-2'],
      ['c', 'pending', ''],
      ['d', 'pending', ''],
    ],
  );

  // The next run: its job recovery brought job-2 back, still running.
  const next = setup([vm('b'), vm('c'), vm('d')]);
  for (const [id, r] of first.journal.records) next.journal.records.set(id, r);
  next.migrations.add(vm('b').id, 'lab2', 'job-2');
  const restarted = new MaintenanceMode(next.deps);
  assert.equal(restarted.inMaintenance(), true, 'before resume(): incoming is refused from the first call');
  assert.equal(restarted.phase(), 'draining');
  restarted.resume();
  await settle();
  assert.equal(next.migrations.started.length, 0, 'job-2 is followed, holding the one lane');
  next.migrations.autoEnd = 'completed';
  next.migrations.end('job-2', 'completed');
  const end = await drained(restarted);
  assert.equal(end.phase, 'drained');
  assert.deepEqual(
    end.vms.map((v) => [v.name, v.state]),
    [
      ['a', 'migrated'],
      ['b', 'migrated'],
      ['c', 'migrated'],
      ['d', 'migrated'],
    ],
  );
  assert.deepEqual(
    next.migrations.started.map((r) => r.vmId),
    [vm('c').id, vm('d').id],
  );
  assert.ok(next.events.includes('resumed'));

  // A job the recovery did not bring back: the VM is looked at again and started.
  const lost = setup([vm('b')]);
  lost.journal.records.set('maintenance', structuredClone(record ?? assert.fail('no record')));
  const again = new MaintenanceMode(lost.deps);
  lost.migrations.autoEnd = 'completed';
  again.resume();
  const after = await drained(again);
  assert.deepEqual(
    after.vms.map((v) => [v.name, v.state]),
    [
      ['a', 'migrated'],
      ['b', 'migrated'],
      ['c', 'gone'],
      ['d', 'gone'],
    ],
  );
  assert.deepEqual(
    lost.migrations.started.map((r) => r.vmId),
    [vm('b').id],
  );

  // ExitMaintenance is journaled too: the run after it is not in maintenance.
  await again.exit({ cancelMigrations: false });
  assert.equal(lost.journal.records.get('maintenance')?.finished, true);
  assert.equal(new MaintenanceMode(lost.deps).inMaintenance(), false);
});

test('a graceful shutdown freezes the record: migrations ending because the agent stops are not journaled as failures', async () => {
  const { mode, migrations, journal } = setup([vm('a')]);
  await mode.enter(enterRequest(['lab2']));
  await settle();
  await mode.freeze();
  for (const job of migrations.running())
    migrations.end(job.jobId, 'failed', { step: 'perform', message: 'connection closed', kind: 'UNAVAILABLE' });
  await settle();
  assert.deepEqual(
    journal.records.get('maintenance')?.data.maintenance.vms.map((v) => [v.state, v.attempts.length]),
    [['migrating', 0]],
  );
});

test('WatchMaintenance: the maintenance now, then each change, closed once the drain ended; the watcher is freed', async () => {
  const { mode, migrations } = setup([vm('a'), vm('b')]);
  const off: Maintenance[] = [];
  await mode.watch((m) => off.push(m)).done;
  assert.deepEqual(
    off.map((m) => m.phase),
    ['off'],
    'not in maintenance: one message, closed',
  );

  await mode.enter(enterRequest());
  const seen: Maintenance[] = [];
  const watch = mode.watch((m) => seen.push(m));
  assert.equal(mode.watcherCount(), 1);
  migrations.autoEnd = 'completed';
  for (const job of migrations.running()) migrations.end(job.jobId, 'completed');
  await watch.done;
  assert.equal(seen.at(-1)?.phase, 'drained');
  assert.ok(seen.length >= 3, `every change: ${seen.map((m) => m.vms.map((v) => v.state).join('/')).join(' ')}`);
  assert.deepEqual(
    seen.at(-1)?.vms.map((v) => v.state),
    ['migrated', 'migrated'],
  );
  assert.equal(mode.watcherCount(), 0);

  const stopped = setup([vm('a')]);
  await stopped.mode.enter(enterRequest());
  const gone = stopped.mode.watch(() => undefined);
  gone.stop(); // the client went away
  await gone.done;
  assert.equal(stopped.mode.watcherCount(), 0);
});

test('in maintenance the host refuses incoming migrations: PrepareIncoming HOST_IN_MAINTENANCE, CheckIncoming DESTINATION_IN_MAINTENANCE', async () => {
  let maintenance = true;
  const incoming = incomingMigrations({ inMaintenance: () => maintenance });
  const err = await refusal(incoming.prepare(prepareArgs()));
  assert.equal(err.kind, 'FAILED_PRECONDITION');
  assert.equal(err.reason, 'HOST_IN_MAINTENANCE');
  assert.match(err.message, /^host in maintenance/);
  assert.equal(incoming.count, 0, 'nothing reserved');
  const findings = await incoming.check(checkArgs());
  assert.deepEqual(
    findings.blocking.filter((f) => f.reason === 'DESTINATION_IN_MAINTENANCE').map((f) => f.side),
    ['destination'],
  );

  maintenance = false;
  assert.ok(!(await incoming.check(checkArgs())).blocking.some((f) => f.reason === 'DESTINATION_IN_MAINTENANCE'));
  const offer = await incoming.prepare(prepareArgs());
  assert.ok(offer.port > 0);
});

/** CheckIncoming's arguments for a guest the fakes' destination can take. */
function checkArgs(): IncomingCheckArgs {
  const { virtType, arch, machine, emulator, cpu, memoryBytes, hugepageBytes } = plainGuest();
  const vmId = vm('a').id;
  return {
    vmId,
    sourceMigrationAddress: '',
    dstqemu: '',
    migrationNetwork: '',
    policy: remoteCommand(vmId).policy,
    guest: { virtType, arch, machine, emulator, cpu, memoryBytes, hugepageBytes, sourceHostCpuXml: '', nics: [] },
    paths: [],
    disks: [],
    sourceVersions: { libvirt: 0, qemu: 0 },
  };
}
