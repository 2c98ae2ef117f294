// CheckMigration and Migrate's checks through the core, both sides over fakes:
// the source's OutgoingMigrations asks a real IncomingMigrations (the
// destination's core) through a loopback PeerAgents, so what the source sends
// is what the destination compares. Nothing is created, reserved or opened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CheckFindings } from '../../agent/migration/checks/findings.js';
import type { IncomingCheckAnswer, IncomingCheckArgs } from '../../agent/migration/ports.js';
import { FerryError, isFerryError } from '../../shared/errors.js';
import { FakeDiskImages, FakeHypervisor, FakeNetwork, FakePeers, FakePinholes, FakeStoragePaths } from '../support/fake-ports.js';
import { finalOf, incomingMigrations, MIGRATION_NIC, outgoingMigrations, remoteRequest } from '../support/migration-fixtures.js';
import { until } from '../support/wait.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';

/** Peers whose CheckIncoming is the destination core's own check; prepare and finish stay the fakes'. */
class LoopbackPeers extends FakePeers {
  constructor(private readonly destination: { check(args: IncomingCheckArgs): Promise<IncomingCheckAnswer> }) {
    super();
  }
  override async checkIncoming(dst: string, args: IncomingCheckArgs): Promise<IncomingCheckAnswer> {
    await super.checkIncoming(dst, args);
    return this.destination.check(args);
  }
}

function hosts() {
  const source = new FakeHypervisor();
  source.addVm(VM);
  const sourceStorage = new FakeStoragePaths();
  const target = new FakeHypervisor();
  const targetStorage = new FakeStoragePaths();
  const pinholes = new FakePinholes();
  const images = new FakeDiskImages();
  let kvm = true;
  const destination = incomingMigrations({
    network: new FakeNetwork([{ address: '198.18.0.2', prefixLength: 24, interface: 'eth0', family: 'ipv4' }, MIGRATION_NIC]),
    pinholes,
    images,
    checks: { hypervisor: target, storage: targetStorage, kvmAvailable: async () => kvm },
  });
  const peers = new LoopbackPeers(destination);
  const migrations = outgoingMigrations({ hypervisor: source, peers, storage: sourceStorage });
  return {
    source,
    sourceStorage,
    target,
    targetStorage,
    pinholes,
    images,
    peers,
    migrations,
    destination,
    hideKvm: () => {
      kvm = false;
    },
  };
}

const reasons = (findings: CheckFindings) => ({
  blocking: findings.blocking.map((f) => `${f.side} ${f.reason}`),
  warnings: findings.warnings.map((f) => `${f.side} ${f.reason}`),
});

test('a compatible migration is ok, and the check changed nothing: no job, no prepare, no pinhole, no image', async () => {
  const { migrations, peers, pinholes, images, target } = hosts();
  const report = await migrations.check(remoteRequest(VM));
  assert.deepEqual(reasons(report), { blocking: [], warnings: [] });
  assert.equal(report.ok, true);
  assert.equal(peers.checked.length, 1);
  assert.deepEqual(peers.prepared, []);
  assert.deepEqual(pinholes.open_, []);
  assert.deepEqual(images.created, []);
  assert.deepEqual(migrations.list(false), []);
  assert.deepEqual(target.compared, [peers.checked[0]!.guest.cpu.xml], "the guest's CPU was compared on the destination");
});

test('what the source sends: the guest as its definition says, the files left behind, the images to create, its versions', async () => {
  const { migrations, peers, source, sourceStorage } = hosts();
  source.hostFeatures = { ...source.hostFeatures, libvirtVersion: 9_000_000, qemuVersion: 7_002_000 };
  source.definition_ = {
    disks: [
      { target: 'vda', device: 'disk', type: 'file', path: '/var/lib/libvirt/images/a.qcow2', readOnly: false, shareable: false },
      { target: 'hdc', device: 'cdrom', type: 'file', path: '/srv/iso/a.iso', readOnly: true, shareable: false },
    ],
    bootFiles: [{ path: '/srv/boot/vmlinuz', use: 'kernel' }],
    nics: [{ kind: 'bridge', source: 'br0', mac: '52:54:00:00:00:01' }],
  };
  source.disks = [
    { target: 'vda', path: '/var/lib/libvirt/images/a.qcow2', format: 'qcow2', capacityBytes: 2 ** 30, allocationBytes: 2 ** 29 },
  ];
  await migrations.check(remoteRequest(VM, { policy: { copyStorage: 'all' } }));
  const sent = peers.checked[0]!;
  assert.deepEqual(sourceStorage.inspected, ['/var/lib/libvirt/images/a.qcow2', '/srv/iso/a.iso']);
  assert.deepEqual(sent.paths, [
    { path: '/srv/iso/a.iso', use: 'disk hdc (read-only)' },
    { path: '/srv/boot/vmlinuz', use: 'kernel' },
  ]);
  assert.deepEqual(sent.disks, [
    { target: 'vda', path: '/var/lib/libvirt/images/a.qcow2', format: 'qcow2', capacityBytes: 2 ** 30, allocationBytes: 2 ** 29 },
  ]);
  assert.deepEqual(sent.guest.nics, [{ kind: 'bridge', source: 'br0', mac: '52:54:00:00:00:01' }]);
  assert.deepEqual(sent.sourceVersions, { libvirt: 9_000_000, qemu: 7_002_000 });
  assert.equal(sent.sourceMigrationAddress, '198.19.0.1');
  assert.equal(sent.policy.copyStorage, 'all');
});

test('every incompatibility found at once, each with its own reason and side, sources first', async () => {
  const { migrations, source, target, targetStorage, hideKvm } = hosts();
  source.definition_ = {
    hostDevices: ['pci 0000:01:00.0'],
    disks: [{ target: 'vda', device: 'disk', type: 'file', path: '/var/lib/libvirt/images/a.qcow2', readOnly: false, shareable: false }],
    bootFiles: [{ path: '/srv/boot/vmlinuz', use: 'kernel' }],
    nics: [{ kind: 'network', source: 'prod', mac: '52:54:00:00:00:01' }],
    memoryBytes: 8 * 2 ** 30,
  };
  hideKvm();
  target.memoryAvailable = 2 ** 30;
  targetStorage.facts.set('/srv/boot/vmlinuz', { exists: false });
  const report = await migrations.check(remoteRequest(VM));
  assert.equal(report.ok, false);
  assert.deepEqual(reasons(report).blocking, [
    'source HOST_DEVICE',
    'source LOCAL_DISK_NOT_COPIED',
    'destination KVM_UNAVAILABLE',
    'destination MEMORY_INSUFFICIENT',
    'destination NETWORK_MISSING',
    'destination DISK_PATH_MISSING',
  ]);
  assert.deepEqual(target.queries, [], 'no domain capabilities asked for a KVM guest on a host without KVM');
});

test('Migrate runs the same checks first: a blocking finding refuses it with FAILED_PRECONDITION, every finding in the details, nothing started', async () => {
  const { migrations, peers, pinholes, source, target } = hosts();
  source.definition_ = { cpu: { mode: 'custom', model: 'Skylake-Server', xml: '<cpu><model>Skylake-Server</model></cpu>' } };
  target.cpuVerdict = () => ({ result: 'incompatible', detail: 'Host CPU does not provide required features: avx512f' });
  target.memoryAvailable = 0;
  await assert.rejects(migrations.migrate(remoteRequest(VM)), (e) => {
    assert.ok(isFerryError(e, 'FAILED_PRECONDITION'), String(e));
    assert.equal(e.reason, 'MIGRATION_CHECK_FAILED');
    assert.match(
      e.message,
      /^the destination cannot give the VM its CPU \(model Skylake-Server\): Host CPU does not provide required features: avx512f/,
    );
    assert.equal(e.details.subject, `vm/${VM}`);
    assert.deepEqual(
      e.details.violations?.map((v) => `${v.subject} ${v.type}`),
      ['destination MIGRATION_CHECK_REASON_CPU_INCOMPATIBLE', 'destination MIGRATION_CHECK_REASON_MEMORY_INSUFFICIENT'],
    );
    return true;
  });
  assert.deepEqual(peers.prepared, []);
  assert.deepEqual(pinholes.open_, []);
  assert.deepEqual(source.plans, []);
  assert.deepEqual(migrations.list(false), [], 'no job');
});

test('Migrate with only warnings starts, and the job carries them; the facts the check read are not read again', async () => {
  const { migrations, peers, source, destination } = hosts();
  source.definition_ = { persistent: false };
  // The destination at its incoming limit: a warning now, a QUEUED job later.
  for (const n of [1, 2]) {
    await destination.prepare({
      vmId: `other-${n}`,
      jobId: `other-job-${n}`,
      sourceHost: 'lab3',
      sourceMigrationAddress: '198.19.0.3',
      dstqemu: '198.19.0.2',
      migrationNetwork: '',
      copyStorage: false,
      memoryBytes: 0,
    });
  }
  const describesBefore = source.describes;
  const accepted = await migrations.migrate(remoteRequest(VM));
  assert.equal(source.describes - describesBefore, 1, 'one describe of the VM from Migrate to PrepareIncoming');
  const warnings = migrations.status({ jobId: accepted.jobId }).warnings;
  assert.ok(
    warnings.some((w) => /transient on the source/.test(w)),
    warnings.join('; '),
  );
  assert.ok(
    warnings.some((w) => /its incoming limit: the job would wait QUEUED/.test(w)),
    warnings.join('; '),
  );
  assert.equal(peers.checked.length, 1);
  await until('perform', () => source.isMigrating(VM));
  source.complete(VM);
  assert.equal((await finalOf(migrations, accepted.jobId)).phase, 'completed');
});

test('a destination that cannot be reached: CheckMigration reports it, Migrate keeps its UNAVAILABLE error; an older destination is a warning', async () => {
  const { migrations, peers } = hosts();
  peers.checkError = new FerryError('UNAVAILABLE', 'destination agent 198.18.0.77 is not reachable: connect ECONNREFUSED', {
    reason: 'DESTINATION_UNREACHABLE',
  });
  const report = await migrations.check(remoteRequest(VM));
  assert.deepEqual(reasons(report).blocking, ['destination DESTINATION_UNREACHABLE']);
  assert.match(report.blocking[0]!.message, /198\.18\.0\.77 is not reachable/);
  await assert.rejects(
    migrations.migrate(remoteRequest(VM)),
    (e) => isFerryError(e, 'UNAVAILABLE') && e.reason === 'DESTINATION_UNREACHABLE',
  );

  peers.checkError = new FerryError('UNIMPLEMENTED', 'The server does not implement the method /ferry.v1.PeerService/CheckIncoming');
  const older = await migrations.check(remoteRequest(VM));
  assert.equal(older.ok, true);
  assert.deepEqual(reasons(older).warnings, ['destination CHECK_INCOMPLETE']);
  assert.match(older.warnings[0]!.message, /does not check incoming migrations \(an older Ferry\)/);
});

test('request errors stay errors: a dstqemu the destination does not have, mode FILE, a malformed policy', async () => {
  const { migrations, pinholes } = hosts();
  await assert.rejects(
    migrations.check(remoteRequest(VM, { dstqemu: '198.19.0.9' })),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /198\.19\.0\.9 is not an address of the destination/.test(e.message),
  );
  await assert.rejects(
    migrations.check(remoteRequest(VM, { mode: 'file' })),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && e.details.field === 'mode',
  );
  await assert.rejects(
    migrations.check(remoteRequest(VM, { policy: { compression: 'zstd' } })),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /parallel_connections > 1/.test(e.message),
  );
  assert.deepEqual(pinholes.open_, []);
});

test("the VM's own state: unknown, shut off, already migrating; a policy this host cannot run is a finding, not an error", async () => {
  const { migrations, source } = hosts();
  const unknown = await migrations.check(remoteRequest('00000000-0000-4000-8000-000000000001'));
  assert.deepEqual(reasons(unknown).blocking, ['source VM_NOT_FOUND']);

  source.addVm('7f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f51', 'shutoff');
  const off = await migrations.check(remoteRequest('7f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f51'));
  assert.deepEqual(reasons(off).blocking, ['source VM_NOT_RUNNING']);

  const unsupported = await migrations.check(remoteRequest(VM, { policy: { parallelConnections: 2, postCopy: true } }));
  assert.deepEqual(reasons(unsupported).blocking, ['source POLICY_UNSUPPORTED', 'destination POLICY_UNSUPPORTED']);

  const accepted = await migrations.migrate(remoteRequest(VM));
  const busy = await migrations.check(remoteRequest(VM));
  assert.deepEqual(reasons(busy).blocking, ['source VM_BUSY']);
  assert.match(busy.blocking[0]!.message, new RegExp(`migration job ${accepted.jobId}`));
  await until('perform', () => source.isMigrating(VM));
  source.complete(VM);
  await finalOf(migrations, accepted.jobId);
});

test('the migration network: none for the destination in migration_network blocks on its side; the source with none blocks on its own', async () => {
  const { migrations } = hosts();
  const none = await migrations.check(remoteRequest(VM, { dstqemu: '', migrationNetwork: '198.19.0.1/32' }));
  assert.deepEqual(reasons(none).blocking, ['destination NO_MIGRATION_ADDRESS']);
  assert.match(none.blocking[0]!.message, /the destination has no address in migration_network 198\.19\.0\.1\/32/);
  const neither = await migrations.check(remoteRequest(VM, { dstqemu: '', migrationNetwork: '198.20.0.0/24' }));
  assert.deepEqual(reasons(neither).blocking, ['source NO_MIGRATION_ADDRESS', 'destination NO_MIGRATION_ADDRESS']);
});

test('copy_storage: a disk image that exists there, or too little room, is refused before any image is created', async () => {
  const { migrations, source, images } = hosts();
  source.definition_ = {
    disks: [{ target: 'vda', device: 'disk', type: 'file', path: '/var/lib/libvirt/images/a.qcow2', readOnly: false, shareable: false }],
  };
  source.disks = [
    { target: 'vda', path: '/var/lib/libvirt/images/a.qcow2', format: 'qcow2', capacityBytes: 2 ** 30, allocationBytes: 2 ** 29 },
  ];
  images.site = () => ({ freeBytes: 2 ** 20 });
  const full = await migrations.check(remoteRequest(VM, { policy: { copyStorage: 'all' } }));
  assert.deepEqual(reasons(full).blocking, ['destination STORAGE_INSUFFICIENT']);
  assert.match(full.blocking[0]!.message, /copying disk vda needs 512 MiB on the destination and its filesystem has 1 MiB free/);
  images.site = () => ({ exists: true });
  await assert.rejects(
    migrations.migrate(remoteRequest(VM, { policy: { copyStorage: 'all' } })),
    (e) => isFerryError(e, 'FAILED_PRECONDITION') && /already exists on the destination/.test(e.message),
  );
  assert.deepEqual(images.created, []);
});
