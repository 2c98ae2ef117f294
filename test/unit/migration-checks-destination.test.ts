// The destination's checks before a migration, as pure comparisons of facts
// (and, for the guest and its CPU, of libvirt's answers, here faked): what
// each finds, which reason it gives, and that compatible facts find nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAdmission } from '../../agent/migration/checks/destination-admission.js';
import { checkGuestCpu } from '../../agent/migration/checks/destination-cpu.js';
import { checkImageSites, checkRequiredPaths } from '../../agent/migration/checks/destination-disks.js';
import { checkGuestSupport, guestQuery } from '../../agent/migration/checks/destination-guest.js';
import { checkNics, nicNeeds } from '../../agent/migration/checks/destination-networks.js';
import { checkHugepages, checkMemory, checkVersions, qemuOverheadBytes } from '../../agent/migration/checks/destination-resources.js';
import { Findings } from '../../agent/migration/checks/findings.js';
import { gather } from '../../agent/migration/checks/gather.js';
import type { CpuVerdict, GuestQuery, GuestRequirements, GuestSupport } from '../../agent/migration/ports.js';
import { BASELINE_FEATURES } from '../../agent/migration/policy/policy.js';
import { FerryError } from '../../shared/errors.js';
import { HOST_CPU_XML, plainGuest } from '../support/fake-ports.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const reasons = (out: Findings) => ({ blocking: out.blocking.map((f) => f.reason), warnings: out.warnings.map((f) => f.reason) });
const guest = (extra: Partial<GuestRequirements> = {}): GuestRequirements => ({ ...plainGuest(), sourceHostCpuXml: '', ...extra });

/** A libvirt that offers what `offered` accepts, refusing the rest in its own words. */
function libvirtOffering(offered: (q: GuestQuery) => boolean) {
  const asked: GuestQuery[] = [];
  const query = async (q: GuestQuery): Promise<GuestSupport> => {
    asked.push(q);
    return offered(q) ? { offered: true, hostCpuXml: HOST_CPU_XML } : { offered: false, refusal: `libvirt refuses ${JSON.stringify(q)}` };
  };
  return { asked, query };
}

test('guest support: one question when the destination offers the guest, and its host CPU kept for the CPU check', async () => {
  const out = new Findings('destination');
  const libvirt = libvirtOffering(() => true);
  const offered = await checkGuestSupport(guest(), true, libvirt.query, out);
  assert.deepEqual(offered, { offered: true, hostCpuXml: HOST_CPU_XML });
  assert.deepEqual(libvirt.asked, [{ virtType: 'kvm', arch: 'x86_64', machine: 'pc-i440fx-7.2', emulator: '/usr/bin/qemu-system-x86_64' }]);
  assert.deepEqual(reasons(out), { blocking: [], warnings: [] });
});

test('guest support: a KVM guest to a host without /dev/kvm is KVM_UNAVAILABLE without asking libvirt; a TCG guest is fine there', async () => {
  const out = new Findings('destination');
  const libvirt = libvirtOffering((q) => q.virtType === 'qemu');
  assert.equal(await checkGuestSupport(guest(), false, libvirt.query, out), undefined);
  assert.deepEqual(reasons(out).blocking, ['KVM_UNAVAILABLE']);
  assert.match(out.blocking[0]!.message, /runs under KVM and the destination has no usable \/dev\/kvm/);
  assert.deepEqual(libvirt.asked, []);
  const tcg = new Findings('destination');
  assert.ok(await checkGuestSupport(guest({ virtType: 'qemu' }), false, libvirt.query, tcg));
  assert.deepEqual(tcg.blocking, []);
});

test("guest support: narrower questions name what is missing: KVM in libvirt's eyes, another virt type, the emulator, the machine type", async () => {
  const cases: Array<[string, (q: GuestQuery) => boolean, Partial<GuestRequirements>, string, RegExp]> = [
    ['libvirt without KVM', (q) => q.virtType !== 'kvm', {}, 'KVM_UNAVAILABLE', /libvirt offers no KVM guests for x86_64/],
    ['no such virt type', () => false, { virtType: 'xen' }, 'VIRT_TYPE_UNSUPPORTED', /offers no xen guests/],
    ['no emulator there', (q) => !q.emulator, {}, 'EMULATOR_MISSING', /no usable emulator \/usr\/bin\/qemu-system-x86_64 for x86_64/],
    ['an older QEMU', (q) => !q.machine, {}, 'MACHINE_TYPE_UNSUPPORTED', /does not offer machine type pc-i440fx-7\.2 \(libvirt refuses/],
  ];
  for (const [name, offered, extra, reason, message] of cases) {
    const out = new Findings('destination');
    assert.equal(await checkGuestSupport(guest(extra), true, libvirtOffering(offered).query, out), undefined, name);
    assert.deepEqual(reasons(out).blocking, [reason], name);
    assert.match(out.blocking[0]!.message, message, name);
  }
  assert.deepEqual(guestQuery(guest({ machine: '', emulator: '' })), { virtType: 'kvm', arch: 'x86_64' });
});

function comparing(verdict: CpuVerdict) {
  const compared: string[] = [];
  return {
    compared,
    compare: async (_q: GuestQuery, xml: string) => {
      compared.push(xml);
      return verdict;
    },
  };
}

test("CPU: a named model is compared as the guest's <cpu>; what the destination lacks blocks with libvirt's words", async () => {
  const lacking = comparing({ result: 'incompatible', detail: 'Host CPU does not provide required features: avx512f' });
  const out = new Findings('destination');
  const cpu = { mode: 'custom', model: 'Skylake-Server', xml: "<cpu mode='custom'><model>Skylake-Server</model></cpu>" };
  await checkGuestCpu(guest({ cpu }), guestQuery(guest()), lacking.compare, out);
  assert.deepEqual(lacking.compared, [cpu.xml]);
  assert.deepEqual(reasons(out).blocking, ['CPU_INCOMPATIBLE']);
  assert.match(
    out.blocking[0]!.message,
    /cannot give the VM its CPU \(model Skylake-Server\): Host CPU does not provide required features: avx512f/,
  );

  for (const verdict of [{ result: 'identical' }, { result: 'superset' }] as const) {
    const fine = new Findings('destination');
    await checkGuestCpu(guest({ cpu }), guestQuery(guest()), comparing(verdict).compare, fine);
    assert.deepEqual(fine.blocking, [], verdict.result);
  }
  const unknown = new Findings('destination');
  await checkGuestCpu(guest({ cpu }), guestQuery(guest()), comparing({ result: 'unknown', detail: 'not supported' }).compare, unknown);
  assert.deepEqual(reasons(unknown), { blocking: [], warnings: ['CHECK_INCOMPLETE'] });

  const none = comparing({ result: 'incompatible', detail: 'x' });
  await checkGuestCpu(guest({ cpu: { mode: '', model: '', xml: '' } }), guestQuery(guest()), none.compare, new Findings('destination'));
  assert.deepEqual(none.compared, [], 'no <cpu>: nothing to compare');
});

test('CPU: host-passthrough compares the source host CPU and needs it identical; a superset or a lacking CPU blocks', async () => {
  const passthrough = { mode: 'host-passthrough', model: '', xml: "<cpu mode='host-passthrough'/>" };
  const same = comparing({ result: 'identical' });
  const ok = new Findings('destination');
  await checkGuestCpu(guest({ cpu: passthrough, sourceHostCpuXml: HOST_CPU_XML }), guestQuery(guest()), same.compare, ok);
  assert.deepEqual(same.compared, [HOST_CPU_XML]);
  assert.deepEqual(ok.blocking, []);
  for (const verdict of [{ result: 'superset' }, { result: 'incompatible', detail: 'lacks avx2' }] as const) {
    const out = new Findings('destination');
    await checkGuestCpu(guest({ cpu: passthrough, sourceHostCpuXml: HOST_CPU_XML }), guestQuery(guest()), comparing(verdict).compare, out);
    assert.deepEqual(reasons(out).blocking, ['CPU_INCOMPATIBLE'], verdict.result);
    assert.match(out.blocking[0]!.message, /host-passthrough, and the destination's CPU differs from the source's/);
  }
  const undescribed = new Findings('destination');
  await checkGuestCpu(guest({ cpu: { ...passthrough, mode: 'maximum' } }), guestQuery(guest()), same.compare, undescribed);
  assert.deepEqual(reasons(undescribed), { blocking: [], warnings: ['CHECK_INCOMPLETE'] });
});

test("memory: the guest's maximum plus QEMU's overhead must be available", () => {
  const guestBytes = 4 * GiB;
  const needed = guestBytes + qemuOverheadBytes(guestBytes);
  assert.equal(qemuOverheadBytes(guestBytes), 128 * MiB + 64 * MiB);
  const short = new Findings('destination');
  checkMemory(guestBytes, needed - 1, short);
  assert.deepEqual(reasons(short).blocking, ['MEMORY_INSUFFICIENT']);
  assert.match(short.blocking[0]!.message, /has 4288 MiB of memory available, and the VM needs 4288 MiB \(4096 MiB of guest memory/);
  const enough = new Findings('destination');
  checkMemory(guestBytes, needed, enough);
  assert.deepEqual(enough.blocking, []);
});

test('huge pages: enough free pages of the size the guest uses', () => {
  const short = new Findings('destination');
  checkHugepages(GiB, 2 * MiB, 511, short);
  assert.deepEqual(reasons(short).blocking, ['HUGEPAGES_INSUFFICIENT']);
  assert.match(short.blocking[0]!.message, /2048 KiB huge pages and the destination has 511 free, 512 needed/);
  const enough = new Findings('destination');
  checkHugepages(GiB, 2 * MiB, 512, enough);
  assert.deepEqual(enough.blocking, []);
});

test('versions: an older libvirt or QEMU on the destination blocks; newer, equal or unknown does not', () => {
  const here = { ...BASELINE_FEATURES, libvirtVersion: 9_000_000, qemuVersion: 7_002_000 };
  const older = new Findings('destination');
  checkVersions({ libvirt: 9_004_000, qemu: 8_002_000 }, here, older);
  assert.deepEqual(reasons(older).blocking, ['HYPERVISOR_OLDER', 'HYPERVISOR_OLDER']);
  assert.match(older.blocking[0]!.message, /libvirt 9\.0\.0 is older than the source's 9\.4\.0/);
  assert.match(older.blocking[1]!.message, /QEMU 7\.2\.0 is older than the source's 8\.2\.0/);
  const fine = new Findings('destination');
  checkVersions({ libvirt: 9_000_000, qemu: 7_001_000 }, here, fine);
  checkVersions({ libvirt: 0, qemu: 0 }, here, fine);
  checkVersions({ libvirt: 10_000_000, qemu: 9_000_000 }, BASELINE_FEATURES, fine);
  assert.deepEqual(fine.blocking, []);
});

test('networks: every bridge, interface and active libvirt network a NIC attaches to; facts not read are not judged', () => {
  const nics = [
    { kind: 'bridge', source: 'br0', mac: '52:54:00:00:00:01' },
    { kind: 'network', source: 'default', mac: '52:54:00:00:00:02' },
    { kind: 'direct', source: 'eth2', mac: '52:54:00:00:00:03' },
  ] as const;
  assert.deepEqual(nicNeeds(nics), { interfaces: true, networks: true });
  assert.deepEqual(nicNeeds([nics[1]]), { interfaces: false, networks: true });
  const missing = new Findings('destination');
  checkNics(nics, new Set(['lo', 'eth0']), new Set(['other']), missing);
  assert.deepEqual(reasons(missing).blocking, ['NETWORK_MISSING', 'NETWORK_MISSING', 'NETWORK_MISSING']);
  assert.match(missing.blocking[0]!.message, /52:54:00:00:00:01 attaches to bridge br0, which the destination does not have/);
  assert.match(missing.blocking[1]!.message, /libvirt network default, which is not active on the destination: .*net-start default/);
  assert.match(missing.blocking[2]!.message, /interface eth2/);
  const present = new Findings('destination');
  checkNics(nics, new Set(['br0', 'eth2']), new Set(['default']), present);
  checkNics(nics, undefined, undefined, present);
  assert.deepEqual(present.blocking, []);
});

test('storage: files left behind must exist there; copy_storage images must be allowed, new, backed and fit', () => {
  const paths = new Findings('destination');
  checkRequiredPaths(
    [
      { path: '/srv/iso/a.iso', use: 'disk hdc (read-only)' },
      { path: '/var/lib/ferry-lab/images/vmlinuz', use: 'kernel' },
    ],
    [
      { path: '/srv/iso/a.iso', exists: false, storage: 'local', filesystem: 'ext4' },
      { path: '/var/lib/ferry-lab/images/vmlinuz', exists: true, storage: 'local', filesystem: 'ext4' },
    ],
    paths,
  );
  assert.deepEqual(reasons(paths).blocking, ['DISK_PATH_MISSING']);
  assert.match(paths.blocking[0]!.message, /\/srv\/iso\/a\.iso \(disk hdc \(read-only\)\) does not exist on the destination/);

  const spec = (target: string, allocation: number, extra = {}) => ({
    target,
    path: `/var/lib/libvirt/images/${target}.qcow2`,
    format: 'qcow2',
    capacityBytes: 10 * GiB,
    allocationBytes: allocation,
    ...extra,
  });
  const site = (path: string, extra = {}) => ({
    path,
    allowed: true,
    exists: false,
    backingExists: true,
    filesystem: '2049',
    freeBytes: GiB,
    ...extra,
  });
  const images = new Findings('destination');
  const specs = [
    spec('vda', 600 * MiB),
    spec('vdb', 600 * MiB),
    spec('vdc', MiB),
    spec('vdd', MiB),
    spec('vde', MiB, { backingPath: '/shared/base.img' }),
  ];
  checkImageSites(
    specs,
    [
      site(specs[0]!.path),
      site(specs[1]!.path),
      site(specs[2]!.path, { allowed: false }),
      site(specs[3]!.path, { exists: true }),
      site(specs[4]!.path, { backingExists: false, filesystem: '2050' }),
    ],
    images,
  );
  assert.deepEqual(reasons(images).blocking, [
    'DISK_PATH_NOT_ALLOWED',
    'DISK_IMAGE_EXISTS',
    'BACKING_IMAGE_MISSING',
    'STORAGE_INSUFFICIENT',
  ]);
  assert.match(images.blocking[1]!.message, /already exists on the destination; copying would overwrite it/);
  assert.match(
    images.blocking[3]!.message,
    /copying disks vda, vdb needs 1200 MiB on the destination and its filesystem has 1024 MiB free/,
  );

  const fits = new Findings('destination');
  checkImageSites([spec('vda', 600 * MiB)], [site(specs[0]!.path)], fits);
  assert.deepEqual(fits.blocking, []);
});

test('admission: an incoming limit reached or no free port only warns (the job would wait QUEUED)', () => {
  const busy = new Findings('destination');
  checkAdmission({ count: 2, limit: 2, maintenance: false }, { free: 1, needed: 2 }, busy);
  assert.deepEqual(reasons(busy), { blocking: [], warnings: ['DESTINATION_BUSY', 'PORT_RANGE_EXHAUSTED'] });
  const free = new Findings('destination');
  checkAdmission({ count: 1, limit: 2, maintenance: false }, { free: 1, needed: 1 }, free);
  assert.deepEqual(reasons(free), { blocking: [], warnings: [] });
});

test('a fact that cannot be read is a finding: an unanswering libvirt blocks once, anything else leaves that check undone', async () => {
  const out = new Findings('destination');
  const down = () => Promise.reject(new FerryError('UNAVAILABLE', 'libvirt is not reachable', { reason: 'LIBVIRT_UNAVAILABLE' }));
  assert.equal(await gather('the free memory', down, out), undefined);
  assert.equal(await gather('the CPU', down, out), undefined);
  assert.equal(await gather('the networks', () => Promise.reject(new Error('no network driver')), out), undefined);
  assert.equal(await gather('the versions', async () => 42, out), 42);
  assert.deepEqual(reasons(out), { blocking: ['HYPERVISOR_UNAVAILABLE'], warnings: ['CHECK_INCOMPLETE'] });
  assert.match(out.warnings[0]!.message, /could not check the networks on the destination: no network driver/);
});
