// The source's checks before a migration, as pure comparisons of facts: the
// VM's state and jobs, its definition (host devices, transient), its disks
// against copy_storage (libvirt's own safety rule), and the policy against
// the host's libvirt and QEMU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Findings, refusalOf, reportOf } from '../../agent/migration/checks/findings.js';
import { checkPolicySupport } from '../../agent/migration/checks/policy-support.js';
import { checkSourceDisks, diskPaths } from '../../agent/migration/checks/source-disks.js';
import { checkVmDefinition, checkVmJobs, checkVmState } from '../../agent/migration/checks/source-vm.js';
import type { PathFacts, VmDiskUse } from '../../agent/migration/ports.js';
import { BASELINE_FEATURES, BUILTIN_DEFAULTS } from '../../agent/migration/policy/policy.js';
import type { CopyStorage } from '../../agent/migration/types.js';
import { plainGuest, stats } from '../support/fake-ports.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const reasons = (out: Findings) => ({ blocking: out.blocking.map((f) => f.reason), warnings: out.warnings.map((f) => f.reason) });

test('state: running and paused VMs may migrate; shut off, crashed and suspended ones are refused, saying to start them', () => {
  for (const state of ['running', 'paused'] as const) {
    const out = new Findings('source');
    checkVmState(VM, { id: VM, name: 'vm1', state, memoryBytes: 0 }, out);
    assert.deepEqual(out.blocking, [], state);
  }
  for (const state of ['shutoff', 'crashed', 'suspended'] as const) {
    const out = new Findings('source');
    checkVmState(VM, { id: VM, name: 'vm1', state, memoryBytes: 0 }, out);
    assert.deepEqual(reasons(out).blocking, ['VM_NOT_RUNNING'], state);
    assert.match(out.blocking[0]!.message, new RegExp(`is ${state}, not running: start it first`));
    assert.equal(out.blocking[0]!.side, 'source');
  }
});

test("jobs: Ferry's own job, or a libvirt job someone else started, makes the VM busy; a finished libvirt job does not", () => {
  const ferry = new Findings('source');
  checkVmJobs(VM, { id: 'job-7', phase: 'migrating' }, undefined, ferry);
  assert.deepEqual(reasons(ferry).blocking, ['VM_BUSY']);
  assert.match(ferry.blocking[0]!.message, /migration job job-7 \(migrating\)/);

  const libvirt = new Findings('source');
  checkVmJobs(VM, undefined, stats(0, 10, { type: 'unbounded', operation: 'save' }), libvirt);
  assert.deepEqual(reasons(libvirt).blocking, ['VM_BUSY']);
  assert.match(libvirt.blocking[0]!.message, /libvirt runs a job on VM .* \(save\)/);

  const none = new Findings('source');
  checkVmJobs(VM, undefined, stats(0, 0, { type: 'completed' }), none);
  checkVmJobs(VM, undefined, undefined, none);
  assert.deepEqual(none.blocking, []);
});

test('definition: each passed-through device blocks, naming it; a transient VM is a warning only', () => {
  const out = new Findings('source');
  checkVmDefinition({ ...plainGuest(), hostDevices: ['pci 0000:01:00.0', 'usb 046d:c52b'], persistent: false }, out);
  assert.deepEqual(reasons(out), { blocking: ['HOST_DEVICE', 'HOST_DEVICE'], warnings: ['VM_TRANSIENT'] });
  assert.match(out.blocking[0]!.message, /pci 0000:01:00\.0 is passed through .* detach it first/);
  assert.match(out.blocking[1]!.message, /usb 046d:c52b/);
  const plain = new Findings('source');
  checkVmDefinition(plainGuest(), plain);
  assert.deepEqual(reasons(plain), { blocking: [], warnings: [] });
});

const disk = (extra: Partial<VmDiskUse>): VmDiskUse => ({
  target: 'vda',
  device: 'disk',
  type: 'file',
  path: '/var/lib/libvirt/images/a.qcow2',
  readOnly: false,
  shareable: false,
  ...extra,
});
const fact = (path: string, storage: PathFacts['storage'], filesystem: string): [string, PathFacts] => [
  path,
  { path, exists: true, storage, filesystem },
];

function disks(list: VmDiskUse[], facts: Array<[string, PathFacts]>, copyStorage: CopyStorage, copied: string[] = []) {
  const out = new Findings('source');
  const required = checkSourceDisks(list, new Set(copied), new Map(facts), copyStorage, out);
  return { out, required };
}

test('a writable disk on local storage without copy_storage blocks (libvirt: migration without shared storage is unsafe)', () => {
  const { out, required } = disks([disk({})], [fact('/var/lib/libvirt/images/a.qcow2', 'local', 'ext4')], 'none');
  assert.deepEqual(reasons(out).blocking, ['LOCAL_DISK_NOT_COPIED']);
  assert.match(
    out.blocking[0]!.message,
    /disk vda \(\/var\/lib\/libvirt\/images\/a\.qcow2\) is on this host's local storage \(ext4\): migrate with copy_storage all/,
  );
  assert.deepEqual(required, []);
});

test('copied local disks pass; the files left behind (read-only, shared, block) must be at the same path on the destination', () => {
  const list = [
    disk({}),
    disk({ target: 'hdc', device: 'cdrom', path: '/srv/iso/install.iso', readOnly: true }),
    disk({ target: 'vdb', path: '/mnt/nfs/data.qcow2' }),
    disk({ target: 'vdc', type: 'block', path: '/dev/vg0/lv-data' }),
    disk({ target: 'vdd', type: 'network', path: '' }),
    disk({ target: 'hdd', device: 'cdrom', path: '', readOnly: true }),
  ];
  const facts = [
    fact('/var/lib/libvirt/images/a.qcow2', 'local', 'ext4'),
    fact('/srv/iso/install.iso', 'local', 'ext4'),
    fact('/mnt/nfs/data.qcow2', 'shared', 'nfs'),
    fact('/dev/vg0/lv-data', 'local', 'devtmpfs'),
  ];
  const { out, required } = disks(list, facts, 'all', ['vda']);
  assert.deepEqual(reasons(out), { blocking: [], warnings: [] });
  assert.deepEqual(required, [
    { path: '/srv/iso/install.iso', use: 'disk hdc (read-only)' },
    { path: '/mnt/nfs/data.qcow2', use: 'disk vdb' },
    { path: '/dev/vg0/lv-data', use: 'disk vdc' },
  ]);
  assert.deepEqual(diskPaths(list), ['/var/lib/libvirt/images/a.qcow2', '/srv/iso/install.iso', '/mnt/nfs/data.qcow2', '/dev/vg0/lv-data']);
});

test('copy_storage of a disk on shared storage blocks: it would be copied onto itself', () => {
  const { out } = disks([disk({ path: '/mnt/nfs/a.qcow2' })], [fact('/mnt/nfs/a.qcow2', 'shared', 'nfs')], 'incremental', ['vda']);
  assert.deepEqual(reasons(out).blocking, ['SHARED_DISK_COPIED']);
  assert.match(
    out.blocking[0]!.message,
    /shared storage \(nfs\), which copy_storage incremental would copy onto itself: migrate with copy_storage none/,
  );
});

test('a local disk copy_storage does not copy (a shareable one) still blocks; a filesystem of unknown sharing warns', () => {
  const shareable = disks([disk({ shareable: true })], [fact('/var/lib/libvirt/images/a.qcow2', 'local', 'xfs')], 'all', []);
  assert.deepEqual(reasons(shareable.out).blocking, ['LOCAL_DISK_NOT_COPIED']);
  assert.match(shareable.out.blocking[0]!.message, /copy_storage does not copy it/);
  const fuse = disks([disk({ path: '/mnt/gluster/a.qcow2' })], [fact('/mnt/gluster/a.qcow2', 'unknown', 'fuse')], 'none');
  assert.deepEqual(reasons(fuse.out), { blocking: [], warnings: ['CHECK_INCOMPLETE'] });
  assert.match(fuse.out.warnings[0]!.message, /cannot tell whether disk vda .* is on shared storage \(fuse\)/);
  assert.deepEqual(fuse.required, [{ path: '/mnt/gluster/a.qcow2', use: 'disk vda' }], 'if it is shared, the destination needs it');
});

test('policy support: the same gaps Migrate refuses, as findings naming the host', () => {
  const out = new Findings('destination');
  const policy = { ...BUILTIN_DEFAULTS, parallelConnections: 4, compression: 'zstd' as const, postCopy: true };
  checkPolicySupport(policy, { ...BASELINE_FEATURES, versions: 'libvirt 9.0.0, QEMU 7.2.0' }, 'the destination', out);
  assert.deepEqual(reasons(out).blocking, ['POLICY_UNSUPPORTED', 'POLICY_UNSUPPORTED']);
  assert.match(out.blocking[0]!.message, /zstd of a parallel migration needs libvirt >= 9\.4\.0 \(the destination: libvirt 9\.0\.0/);
  assert.match(out.blocking[1]!.message, /post-copy with parallel_connections > 1 needs QEMU >= 10\.1 \(the destination:/);
  const fine = new Findings('destination');
  checkPolicySupport(BUILTIN_DEFAULTS, BASELINE_FEATURES, 'the destination', fine);
  assert.deepEqual(fine.blocking, []);
});

test("a report: ok only without blocking findings, sources first; Migrate's refusal carries every blocking finding", () => {
  const source = new Findings('source');
  const destination = new Findings('destination');
  destination.block('CPU_INCOMPATIBLE', 'no avx512f there');
  source.block('HOST_DEVICE', 'a GPU is passed through');
  destination.warn('DESTINATION_BUSY', 'at its incoming limit');
  destination.block('HYPERVISOR_UNAVAILABLE', 'libvirt away');
  destination.block('HYPERVISOR_UNAVAILABLE', 'libvirt away');
  const report = reportOf(source, destination);
  assert.equal(report.ok, false);
  assert.deepEqual(
    report.blocking.map((f) => `${f.side} ${f.reason}`),
    ['source HOST_DEVICE', 'destination CPU_INCOMPATIBLE', 'destination HYPERVISOR_UNAVAILABLE'],
    'an unanswering libvirt is said once',
  );
  const refusal = refusalOf(report, `vm/${VM}`);
  assert.ok(refusal);
  assert.equal(refusal.kind, 'FAILED_PRECONDITION');
  assert.equal(refusal.reason, 'MIGRATION_CHECK_FAILED');
  assert.equal(refusal.message, 'a GPU is passed through');
  assert.deepEqual(refusal.details.violations, [
    { type: 'MIGRATION_CHECK_REASON_HOST_DEVICE', subject: 'source', description: 'a GPU is passed through' },
    { type: 'MIGRATION_CHECK_REASON_CPU_INCOMPATIBLE', subject: 'destination', description: 'no avx512f there' },
    { type: 'MIGRATION_CHECK_REASON_HYPERVISOR_UNAVAILABLE', subject: 'destination', description: 'libvirt away' },
  ]);
  assert.equal(refusalOf(reportOf(new Findings('source')), 'vm/x'), undefined);
  assert.equal(reportOf(new Findings('source'), new Findings('destination')).ok, true);
});
