// The destination side's decisions: which address QEMU listens on, the
// incoming limit, the release of pinholes, and what survives a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingRecord } from '../../agent/migration/incoming/incoming-migrations.js';
import type { IncomingCheckArgs, PostcopyState } from '../../agent/migration/ports.js';
import { FerryError, isFerryError } from '../../shared/errors.js';
import { FakeNetwork, FakePinholes, ManualClock, plainGuest, stats } from '../support/fake-ports.js';
import { MemoryJournal } from '../support/memory-journal.js';
import { incomingMigrations, MIGRATION_NIC, prepareArgs as args, remoteCommand } from '../support/migration-fixtures.js';
import { sleep } from '../support/wait.js';

function setup(maxIncoming = 1) {
  const pinholes = new FakePinholes();
  const network = new FakeNetwork([
    { address: '198.18.0.2', prefixLength: 24, interface: 'eth0', family: 'ipv4' },
    MIGRATION_NIC,
    { address: '2001:db8::2', prefixLength: 64, interface: 'eth1', family: 'ipv6' },
  ]);
  const incoming = incomingMigrations({ network, pinholes, dconnuri: 'qemu+tcp://198.18.0.2/system', maxIncoming: () => maxIncoming });
  return { pinholes, incoming };
}

test('dstqemu: used when it is ours; refused (nothing opened) when not ours or of another family (not unicast: agent/rpc refuses it)', async () => {
  const { incoming, pinholes } = setup();
  await assert.rejects(
    incoming.prepare(args({ dstqemu: '198.19.0.9' })),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /not an address of the destination/.test(e.message),
  );
  await assert.rejects(
    incoming.prepare(args({ dstqemu: '2001:db8::2' })),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /one family/.test(e.message),
  );
  assert.deepEqual(pinholes.open_, []);
  const offer = await incoming.prepare(args());
  assert.equal(offer.migrateUri, 'tcp://198.19.0.2:49152');
  assert.equal(offer.network, 'migration');
});

test('migration_network picks our single address inside it; none is FAILED_PRECONDITION', async () => {
  const { incoming } = setup(5);
  const offer = await incoming.prepare(args({ dstqemu: '', migrationNetwork: '198.19.0.0/24' }));
  assert.equal(offer.listenAddress, '198.19.0.2');
  await assert.rejects(
    incoming.prepare(args({ jobId: 'j2', dstqemu: '', migrationNetwork: '10.0.0.0/8' })),
    (e) => isFerryError(e, 'FAILED_PRECONDITION') && e.reason === 'NO_MIGRATION_ADDRESS',
  );
});

test('without either, the address facing the source (management network) is used and reported', async () => {
  const { incoming } = setup();
  const offer = await incoming.prepare(args({ dstqemu: '', sourceMigrationAddress: '198.18.0.1' }));
  assert.equal(offer.listenAddress, '198.18.0.2');
  assert.equal(offer.network, 'management');
});

test('the incoming limit holds under concurrent prepares; finish releases the slot and the pinhole once', async () => {
  const { incoming, pinholes } = setup(1);
  const results = await Promise.allSettled([incoming.prepare(args()), incoming.prepare(args({ jobId: 'j2' }))]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.ok(isFerryError(rejected.reason, 'RESOURCE_EXHAUSTED') && rejected.reason.reason === 'DESTINATION_BUSY');
  assert.equal(pinholes.open_.length, 1);
  await assert.rejects(incoming.finish({ jobId: 'j1', vmId: 'other' }), (e) => isFerryError(e, 'INVALID_ARGUMENT'));
  assert.equal(await incoming.finish({ jobId: 'j1', vmId: 'v1' }), true);
  assert.equal(await incoming.finish({ jobId: 'j1', vmId: 'v1' }), false);
  assert.equal(pinholes.open_.length, 0);
  await incoming.prepare(args({ jobId: 'j3' }));
});

test('a second disks port is reserved when storage is copied', async () => {
  const { incoming } = setup();
  const offer = await incoming.prepare(args({ copyStorage: true }));
  assert.equal(offer.disksPort, offer.port + 1);
});

test('after a restart, reservations whose migration may still need them come back with their holes; the rest are forgotten', async () => {
  const journal = new MemoryJournal<IncomingRecord>();
  let runningHere = new Set<string>();
  let arrived = new Set<string>();
  let pausedInPostcopy = new Set<string>();
  const hypervisor = {
    postcopyState: async (vmId: string): Promise<PostcopyState> => (pausedInPostcopy.has(vmId) ? 'failed' : 'none'),
    recoveryBlocker: async () => undefined,
    jobStats: async (vmId: string) => {
      if (runningHere.has(vmId)) return stats(10, 90);
      if (arrived.has(vmId)) return stats(0, 0, { type: 'none' });
      throw new FerryError('NOT_FOUND', `no VM ${vmId}`);
    },
  };
  const options = { maxIncoming: () => 6, journal, hypervisor };
  const before = incomingMigrations(options);
  await before.prepare(args({ jobId: 'open-hole', vmId: 'v1' }));
  await before.prepare(args({ jobId: 'copying', vmId: 'v2' }));
  await before.prepare(args({ jobId: 'over', vmId: 'v3' }));
  await before.prepare(args({ jobId: 'finished', vmId: 'v4' }));
  await before.prepare(args({ jobId: 'arrived', vmId: 'v5' }));
  await before.prepare(args({ jobId: 'paused', vmId: 'v6' }));
  await before.finish({ jobId: 'finished', vmId: 'v4', success: true });
  before.dispose(); // the agent dies
  // Time passes: the holes of 'copying' and 'over' expire; v2's migration still runs here;
  // v5's migration completed (its hole is still open, but FinishIncoming came while the agent was down).
  // v6's post-copy broke: the VM runs here, paused in post-copy failed, until the source resumes it.
  for (const id of ['copying', 'over', 'paused']) journal.records.get(id)!.data.pinhole.expiresAt = Date.now() - 1;
  runningHere = new Set(['v2']);
  arrived = new Set(['v5']);
  pausedInPostcopy = new Set(['v6']);

  const pinholes = new FakePinholes();
  const after = incomingMigrations({ ...options, pinholes });
  const holes = await after.recover();
  assert.deepEqual(
    holes.map((h) => h.jobId),
    ['open-hole'],
    'only unexpired holes are taken back',
  );
  pinholes.adopt(holes);
  assert.equal(after.count, 3, 'open-hole, copying and paused are still reserved');
  assert.deepEqual([...journal.records.keys()].sort(), ['copying', 'open-hole', 'paused']);
  assert.equal(await after.finish({ jobId: 'open-hole', vmId: 'v1', success: true }), true, 'FinishIncoming closes a hole taken back');
  assert.deepEqual(pinholes.open_, []);
  assert.deepEqual([...journal.records.keys()].sort(), ['copying', 'paused']);
});

test('a reservation being journaled counts once against the incoming limit', async () => {
  const journal = new MemoryJournal<IncomingRecord>();
  const write = journal.write.bind(journal);
  journal.write = async (jobId, finished, data) => {
    await sleep(20); // an fsync's worth
    return write(jobId, finished, data);
  };
  const incoming = incomingMigrations({ journal });
  const first = incoming.prepare(args({ jobId: 'a', vmId: 'v1' }));
  await sleep(5); // the first is writing its record
  await incoming.prepare(args({ jobId: 'b', vmId: 'v2' }));
  await first;
  assert.equal(incoming.count, 2);
});

test('a reservation the source never finishes expires at reservation_ttl: its slot and pinhole are released, its record removed', async () => {
  const clock = new ManualClock();
  const journal = new MemoryJournal<IncomingRecord>();
  const pinholes = new FakePinholes();
  const incoming = incomingMigrations({ pinholes, clock, maxIncoming: () => 1, journal });
  await incoming.prepare(args());
  await clock.advance(59_999);
  assert.equal(incoming.count, 1, 'held until its time is up');
  assert.deepEqual(pinholes.open_, ['ph-j1']);
  await clock.advance(1);
  assert.equal(incoming.count, 0);
  assert.deepEqual(pinholes.open_, []);
  assert.deepEqual([...journal.records.keys()], []);
  await incoming.prepare(args({ jobId: 'j2' })); // the slot is free again
});

test('a migration NIC that is down: PrepareIncoming and PrepareRecovery fail at once (MIGRATION_NETWORK_DOWN, the NIC and why), nothing opened', async () => {
  const pinholes = new FakePinholes();
  const network = new FakeNetwork([
    { address: '198.18.0.2', prefixLength: 24, interface: 'eth0', family: 'ipv4' },
    { ...MIGRATION_NIC, interface: 'bond0.100' },
  ]);
  network.down.add('bond0.100');
  network.downHidesAddresses = true; // as os.networkInterfaces() does: the address is still configured
  network.downReasons.set('bond0.100', 'lower device bond0: no slave up');
  // The guest of job j3 runs here paused in post-copy: only the link stops its recovery.
  const incoming = incomingMigrations({
    network,
    pinholes,
    maxIncoming: () => 5,
    hypervisor: {
      jobStats: async () => stats(0, 0, { type: 'none' }),
      postcopyState: async () => 'failed',
      recoveryBlocker: async () => undefined,
    },
  });
  const refusedForTheLink = (e: unknown) =>
    isFerryError(e, 'FAILED_PRECONDITION') &&
    e.reason === 'MIGRATION_NETWORK_DOWN' &&
    e.message.includes('migration NIC bond0.100 (198.19.0.2) is down (lower device bond0: no slave up)');
  await assert.rejects(incoming.prepare(args()), refusedForTheLink);
  await assert.rejects(incoming.prepare(args({ jobId: 'j2', dstqemu: '', migrationNetwork: '198.19.0.0/24' })), refusedForTheLink);
  await assert.rejects(incoming.prepareRecovery(args({ jobId: 'j3' })), refusedForTheLink);
  assert.deepEqual(pinholes.open_, []);
  assert.equal(incoming.count, 0, 'no slot held');

  // The management fallback does not use that NIC: it still prepares, and says it is the management network.
  const fallback = await incoming.prepare(args({ jobId: 'j4', dstqemu: '', sourceMigrationAddress: '198.18.0.1' }));
  assert.equal(fallback.network, 'management');
  assert.equal(fallback.listenAddress, '198.18.0.2');

  // The link back: the next prepare works.
  network.down.clear();
  assert.equal((await incoming.prepare(args({ jobId: 'j5' }))).listenAddress, '198.19.0.2');
});

test('CheckIncoming blocks with MIGRATION_NETWORK_DOWN while the NIC that would carry the migration is down', async () => {
  const network = new FakeNetwork([MIGRATION_NIC]);
  const incoming = incomingMigrations({ network });
  const { virtType, arch, machine, emulator, cpu, memoryBytes, hugepageBytes } = plainGuest();
  const checkArgs: IncomingCheckArgs = {
    vmId: 'v1',
    sourceMigrationAddress: '198.19.0.1',
    dstqemu: '198.19.0.2',
    migrationNetwork: '',
    policy: remoteCommand('v1').policy,
    guest: { virtType, arch, machine, emulator, cpu, memoryBytes, hugepageBytes, sourceHostCpuXml: '', nics: [] },
    paths: [],
    disks: [],
    sourceVersions: { libvirt: 0, qemu: 0 },
  };
  const before = await incoming.check(checkArgs);
  assert.ok(!before.blocking.some((f) => f.reason === 'MIGRATION_NETWORK_DOWN'), JSON.stringify(before.blocking));
  network.down.add('eth1');
  const after = await incoming.check(checkArgs);
  const found = after.blocking.find((f) => f.reason === 'MIGRATION_NETWORK_DOWN');
  assert.ok(found, JSON.stringify(after));
  assert.match(found.message, /migration NIC eth1 \(198\.19\.0\.2\) is down \(no carrier\)/);
});
