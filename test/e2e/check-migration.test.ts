// CheckMigration on the lab, and Migrate's refusal from the same checks.
// Eight incompatibilities are injected one at a time (a KVM guest to a
// TCG-only host, a CPU feature the destination cannot provide, more memory
// than the destination has available, a bridge, a disk path, a machine type
// the destination lacks, copy_storage without room, a destination without a
// migration address); each is found with its own reason and nothing else,
// Migrate refuses it with FAILED_PRECONDITION listing it, and afterwards the
// VM still runs on the source, no job exists, and the destination holds no
// reservation, no pinhole and no disk image. The same guests with the cause
// removed pass (no false refusals), and one of them really migrates.
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { unary } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import type { CheckMigrationResponse__Output } from '../../shared/generated/ferry/v1/CheckMigrationResponse.js';
import type { MigrateRequest } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import { startCustomGuest } from '../support/custom-guest.js';
import { agent, closeAgents, domainState, firewallSnapshot, pinholeRulesAfterJob, restartLibvirtd, watchToEnd } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, labExec, labHost, machineHasKvm, readLabState, setLabKvmHidden, virsh } from '../support/lab.js';

const run = promisify(execFile);
const SRC = 'lab1';
const DST = 'lab2';
/** Has KVM hidden for the KVM case (as test/e2e/lab-mixed-kvm.test.ts does), and back afterwards. */
const TCG_HOST = 'lab3';
const BRIDGE = 'chkbr0';
/** libvirt's cache of what each QEMU binary offers, per lab host (scripts/lab.d/host-boot.sh). */
const CAPABILITY_CACHES = '/var/cache/libvirt/qemu/capabilities/*.xml';
/** The machine's persistent huge page pool (the lab hosts share the kernel). */
const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';
const GUESTS = ['chk-plain', 'chk-kvm', 'chk-cpu', 'chk-mem', 'chk-bridge', 'chk-ro', 'chk-machine', 'chk-disk', 'chk-net'];

before(async () => {
  await ensureLab(3);
  await setLabKvmHidden(3, []); // every host as the machine is, whatever an earlier run left
});

after(async () => {
  for (const name of GUESTS) await destroyVm(SRC, name);
  for (const host of [SRC, DST]) await labExec(host, ['ip', 'link', 'del', BRIDGE], { allowFail: true });
  closeAgents();
  await setLabKvmHidden(3, []);
});

/** A Migrate request from lab1 to `dst` over the migration network. */
function request(vmId: string, dst = DST, extra: Partial<MigrateRequest> = {}): MigrateRequest {
  return { vmId, dst: labHost(dst).mgmtIp, dstqemu: labHost(dst).migIp, ...extra };
}

async function check(migration: MigrateRequest): Promise<CheckMigrationResponse__Output> {
  return unary(agent(SRC).migration, 'CheckMigration', { migration });
}

const reasonsOf = (findings: CheckMigrationResponse__Output['blocking']) =>
  findings.map((f) => `${f.side.replace('MIGRATION_CHECK_SIDE_', '')} ${f.reason.replace('MIGRATION_CHECK_REASON_', '')}`);

/** What must be the same after a refusal: the source's jobs, the destination's firewall and reservations, the VM where it was. */
async function snapshot(vmName: string, dst: string) {
  const [jobs, firewall, stats, onSource, onDestination] = await Promise.all([
    unary(agent(SRC).migration, 'ListMigrations', { pageSize: 500 }),
    firewallSnapshot(dst),
    unary(agent(dst).host, 'GetStats', {}),
    domainState(SRC, vmName),
    domainState(dst, vmName),
  ]);
  return { jobs: jobs.jobs.length, firewall, incoming: stats.incomingMigrations, onSource, onDestination };
}

/**
 * CheckMigration finds exactly `expected` ("DESTINATION CPU_INCOMPATIBLE"),
 * Migrate refuses with the same, and nothing changed. Returns the finding.
 */
async function refused(vmName: string, migration: MigrateRequest, expected: string, dst = DST) {
  const before = await snapshot(vmName, dst);
  assert.equal(before.onSource, 'running');
  const answer = await check(migration);
  assert.equal(answer.ok, false);
  assert.deepEqual(reasonsOf(answer.blocking), [expected], JSON.stringify(answer.blocking));
  const [finding] = answer.blocking;
  assert.ok(finding?.message);
  await assert.rejects(unary(agent(SRC).migration, 'Migrate', migration), (err) => {
    assert.ok(isFerryError(err, 'FAILED_PRECONDITION'), String(err));
    assert.equal(err.reason, 'MIGRATION_CHECK_FAILED');
    // The same finding; free memory may move by a MiB between the two calls.
    const figures = (text: string) => text.replace(/\d+ MiB/g, 'N MiB');
    assert.equal(figures(err.message), figures(finding.message));
    assert.deepEqual(
      err.details.violations?.map((v) => `${v.subject.toUpperCase()} ${v.type.replace('MIGRATION_CHECK_REASON_', '')}`),
      [expected],
    );
    return true;
  });
  const after = await snapshot(vmName, dst);
  assert.deepEqual(after, before, 'the VM, the jobs, the firewall and the reservations are as they were');
  assert.deepEqual(await pinholeRulesAfterJob(dst), []);
  return finding;
}

/** Nothing blocks (warnings may say something). */
async function passes(migration: MigrateRequest): Promise<CheckMigrationResponse__Output> {
  const answer = await check(migration);
  assert.deepEqual(reasonsOf(answer.blocking), [], JSON.stringify(answer));
  assert.equal(answer.ok, true);
  return answer;
}

test('a plain guest: ok to every other host, and the answer takes well under half a second', async () => {
  const vm = await createVm(SRC, 'chk-plain');
  for (const dst of [DST, TCG_HOST]) {
    // The first call may find a libvirtd that has just started and probes QEMU once: not timed.
    await passes(request(vm.uuid, dst));
    const started = Date.now();
    await passes(request(vm.uuid, dst));
    assert.ok(Date.now() - started < 500, `CheckMigration to ${dst} took ${Date.now() - started} ms`);
  }
  await passes(request(vm.uuid, DST, { dstqemu: '', migrationNetwork: '198.19.0.0/24' }));
});

test('a KVM guest to a host without KVM: KVM_UNAVAILABLE (the destination knows its /dev/kvm)', async (t: TestContext) => {
  if (!machineHasKvm()) return t.skip('this machine has no /dev/kvm: every lab guest is a TCG guest');
  await setLabKvmHidden(3, [3]);
  const vm = await createVm(SRC, 'chk-kvm');
  assert.match(await virsh(SRC, 'dumpxml', vm.name), /^<domain type='kvm'/);
  const finding = await refused(vm.name, request(vm.uuid, TCG_HOST), 'DESTINATION KVM_UNAVAILABLE', TCG_HOST);
  assert.match(finding.message, /runs under KVM and the destination has no usable \/dev\/kvm/);
  await passes(request(vm.uuid, DST));
});

test("a CPU feature the destination cannot give: CPU_INCOMPATIBLE with libvirt's words", async () => {
  const uuid = await startCustomGuest(SRC, 'chk-cpu', {
    type: 'qemu',
    cpu: "<cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model><feature policy='require' name='lahf_lm'/></cpu>",
  });
  assert.match(await virsh(SRC, 'dumpxml', 'chk-cpu'), /<feature policy='require' name='lahf_lm'\/>/);
  // Every lab host runs the same QEMU, so lab2's libvirt is made to believe that its TCG lacks
  // lahf_lm: the CPU QEMU reported, in its capabilities cache, loses the property (as for the
  // machine type below), and compareHypervisorCPU compares against that.
  const property = "<property name='lahf-lm' type='boolean' value=";
  const count = await labExec(DST, ['sh', '-c', `cat ${CAPABILITY_CACHES} | grep -c "${property}'true'" || true`]);
  assert.ok(Number(count.stdout.trim()) > 0, "lab2's capabilities cache has TCG's lahf-lm");
  try {
    await labExec(DST, ['sh', '-c', `sed -i "s/${property}'true'/${property}'false'/" ${CAPABILITY_CACHES}`]);
    await restartLibvirtd(DST);
    const finding = await refused('chk-cpu', request(uuid), 'DESTINATION CPU_INCOMPATIBLE');
    assert.match(finding.message, /cannot give the VM its CPU \(model qemu64\).*lahf_lm/);
  } finally {
    await labExec(DST, ['sh', '-c', `rm -f ${CAPABILITY_CACHES}`]);
    await restartLibvirtd(DST);
  }
  await passes(request(uuid));
});

/**
 * A huge page is 2 MiB of contiguous memory: after much I/O (an earlier benchmark's gigabytes) the
 * page cache holds memory in pieces, and the kernel reserves fewer pages than asked. Clean cache
 * dropped and memory compacted first, it finds them (Documentation/admin-guide/mm/hugetlbpage.rst).
 */
async function makeRoomForHugePages(): Promise<void> {
  await run('sync');
  await writeFile('/proc/sys/vm/drop_caches', '3');
  if (existsSync('/proc/sys/vm/compact_memory')) await writeFile('/proc/sys/vm/compact_memory', '1');
}

test('more memory than the destination has available: MEMORY_INSUFFICIENT (a guest that touches little of it)', async () => {
  // Every lab host shares the machine's memory, so lab2's is taken away for the check: huge pages
  // reserved (vm.nr_hugepages) leave free memory and the page cache, and no ordinary allocation can
  // use them. The guest starts first (QEMU reserves its memory without touching it), then lab2 is
  // left with about half of what the guest needs, the rest of the machine with at least 1.5 GiB.
  const guestMiB = 3072;
  const vm = await createVm(SRC, 'chk-mem', { memMiB: guestMiB });
  const before = await memoryStats(DST);
  const availableMiB = (before.free + before.buffers + before.cached) / 1024;
  const hugePages = Math.floor((availableMiB - guestMiB / 2) / 2);
  assert.ok(hugePages > 0, `lab2 has ${availableMiB} MiB available`);
  try {
    await makeRoomForHugePages();
    await writeFile(NR_HUGEPAGES, String(hugePages));
    const reserved = readFileSync(NR_HUGEPAGES, 'utf8').trim();
    const left = await memoryStats(DST);
    const leftMiB = Math.floor((left.free + left.buffers + left.cached) / 1024);
    assert.ok(leftMiB < guestMiB, `with ${reserved} of ${hugePages} huge pages reserved lab2 still has ${leftMiB} MiB available`);
    const finding = await refused(vm.name, request(vm.uuid), 'DESTINATION MEMORY_INSUFFICIENT');
    assert.match(finding.message, new RegExp(`MiB of memory available, and the VM needs \\d+ MiB \\(${guestMiB} MiB of guest memory`));
  } finally {
    await writeFile(NR_HUGEPAGES, '0');
  }
  await passes(request(vm.uuid));
});

test('a bridge missing on the destination: NETWORK_MISSING; with the bridge there it passes and the guest migrates', async () => {
  await labExec(SRC, ['sh', '-c', `ip link show ${BRIDGE} >/dev/null 2>&1 || ip link add ${BRIDGE} type bridge; ip link set ${BRIDGE} up`]);
  const uuid = await startCustomGuest(SRC, 'chk-bridge', {
    devices: `<interface type='bridge'><mac address='52:54:00:c4:ec:01'/><source bridge='${BRIDGE}'/><model type='virtio'/><rom bar='off'/></interface>`,
  });
  const finding = await refused('chk-bridge', request(uuid), 'DESTINATION NETWORK_MISSING');
  assert.match(finding.message, new RegExp(`52:54:00:c4:ec:01 attaches to bridge ${BRIDGE}, which the destination does not have`));

  await labExec(DST, ['sh', '-c', `ip link show ${BRIDGE} >/dev/null 2>&1 || ip link add ${BRIDGE} type bridge; ip link set ${BRIDGE} up`]);
  await passes(request(uuid));
  const accepted = await unary(agent(SRC).migration, 'Migrate', request(uuid));
  const final = (await watchToEnd(SRC, accepted.jobId)).at(-1);
  assert.equal(final?.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final?.error));
  assert.equal(await domainState(DST, 'chk-bridge'), 'running');
  assert.match(await virsh(DST, 'dumpxml', 'chk-bridge'), new RegExp(`<source bridge='${BRIDGE}'/>`));
  await destroyVm(DST, 'chk-bridge');
});

test('a disk path missing on the destination (a read-only image only the source has): DISK_PATH_MISSING; there too, it passes', async () => {
  const image = '/var/lib/libvirt/images/chk-ro.iso';
  // /var/lib/libvirt is each lab host's own directory (scripts/lab.d/host-boot.sh).
  await labExec(SRC, ['sh', '-c', `mkdir -p /var/lib/libvirt/images && truncate -s 1M ${image}`]);
  await labExec(DST, ['rm', '-f', image]);
  const uuid = await startCustomGuest(SRC, 'chk-ro', {
    devices: `<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='${image}'/><target dev='hdc' bus='ide'/><readonly/></disk>`,
  });
  const finding = await refused('chk-ro', request(uuid), 'DESTINATION DISK_PATH_MISSING');
  assert.match(finding.message, /\/var\/lib\/libvirt\/images\/chk-ro\.iso \(disk hdc \(read-only\)\) does not exist on the destination/);
  await labExec(DST, ['sh', '-c', `mkdir -p /var/lib/libvirt/images && truncate -s 1M ${image}`]);
  try {
    await passes(request(uuid));
  } finally {
    await labExec(SRC, ['rm', '-f', image]);
    await labExec(DST, ['rm', '-f', image]);
  }
});

test("a machine type the destination's QEMU does not offer: MACHINE_TYPE_UNSUPPORTED", async () => {
  const vm = await createVm(SRC, 'chk-machine');
  const machine = /machine='([^']+)'/.exec(await virsh(SRC, 'dumpxml', vm.name))?.[1];
  assert.ok(machine, 'the live XML names its machine type');
  // Every lab host runs the same QEMU, so lab2 is made to forget one machine type: its libvirt's
  // capabilities cache (per host, scripts/lab.d/host-boot.sh) loses the entry, libvirtd restarts
  // and reads the cache as it finds it; afterwards the cache goes and libvirt probes QEMU again.
  const caches = CAPABILITY_CACHES;
  const count = await labExec(DST, ['sh', '-c', `cat ${caches} | grep -c "name='${machine}'" || true`]);
  assert.ok(Number(count.stdout.trim()) > 0, `lab2's capabilities cache lists ${machine}`);
  try {
    await labExec(DST, ['sh', '-c', `sed -i "/name='${machine}'/d" ${caches}`]);
    await restartLibvirtd(DST);
    const finding = await refused(vm.name, request(vm.uuid), 'DESTINATION MACHINE_TYPE_UNSUPPORTED');
    assert.match(finding.message, new RegExp(`does not offer machine type ${machine.replaceAll('.', '\\.')}`));
  } finally {
    await labExec(DST, ['sh', '-c', `rm -f ${caches}`]);
    await restartLibvirtd(DST);
  }
  await passes(request(vm.uuid));
});

test('copy_storage with too little room on the destination: STORAGE_INSUFFICIENT, and no image is created', async () => {
  // 64 MiB qcow2 on lab1's own /var/lib/libvirt/images, its first 32 MiB written.
  const vm = await createVm(SRC, 'chk-disk', { diskMiB: 64 });
  const copy = request(vm.uuid, DST, { policy: { copyStorage: 'COPY_STORAGE_ALL' } });
  const onDestination = join(readLabState().hosts.find((h) => h.name === DST)!.dir, 'lib', 'images', 'chk-disk.qcow2');
  const withoutCopy = await check(request(vm.uuid));
  assert.deepEqual(reasonsOf(withoutCopy.blocking), ['SOURCE LOCAL_DISK_NOT_COPIED'], 'the local disk must be copied');
  await labExec(DST, ['mkdir', '-p', '/var/lib/libvirt/images']);
  // A small filesystem over lab2's image directory (storage.image_directories' default), mounted
  // where lab2's ferryd looks: its own mount namespace, which is not `lab exec`'s (libvirtd's) once
  // the test above has restarted libvirtd (each libvirtd start unshares a new one).
  const inFerryd = (...argv: string[]) => run('nsenter', ['-t', ferrydPid(DST), '-m', '--', ...argv]);
  await inFerryd('mount', '-t', 'tmpfs', '-o', 'size=8m', 'chk-images', '/var/lib/libvirt/images');
  try {
    const finding = await refused(vm.name, copy, 'DESTINATION STORAGE_INSUFFICIENT');
    assert.match(finding.message, /copying disk vda needs \d+ MiB on the destination and its filesystem has [0-8] MiB free/);
  } finally {
    await inFerryd('umount', '/var/lib/libvirt/images');
  }
  assert.equal(existsSync(onDestination), false, 'no image was created on lab2');
  await passes(copy);
});

test('a destination whose migration network is absent: NO_MIGRATION_ADDRESS on its side', async () => {
  const vm = await createVm(SRC, 'chk-net');
  const byNetwork = request(vm.uuid, DST, { dstqemu: '', migrationNetwork: '198.19.0.0/24' });
  await labExec(DST, ['ip', 'addr', 'del', '198.19.0.2/24', 'dev', 'eth1']);
  try {
    const finding = await refused(vm.name, byNetwork, 'DESTINATION NO_MIGRATION_ADDRESS');
    assert.match(finding.message, /the destination has no address in migration_network 198\.19\.0\.0\/24/);
  } finally {
    await labExec(DST, ['ip', 'addr', 'add', '198.19.0.2/24', 'dev', 'eth1']);
  }
  await passes(byNetwork);
});

/** The PID of a lab host's ferryd (scripts/lab.d/ferryd.sh writes it). */
function ferrydPid(host: string): string {
  return readFileSync(join(readLabState().hosts.find((h) => h.name === host)!.dir, 'ferryd.pid'), 'utf8').trim();
}

/** libvirt's node memory figures of a lab host, in KiB (virsh nodememstats). */
async function memoryStats(host: string): Promise<{ total: number; free: number; buffers: number; cached: number }> {
  const out = (await labExec(host, ['virsh', '-q', '-c', 'qemu:///system', 'nodememstats'])).stdout;
  const field = (name: string) => Number(new RegExp(`^${name}\\s*:\\s*(\\d+) KiB`, 'm').exec(out)?.[1] ?? Number.NaN);
  const stats = { total: field('total'), free: field('free'), buffers: field('buffers'), cached: field('cached') };
  assert.ok(Object.values(stats).every(Number.isFinite), `nodememstats: ${out}`);
  return stats;
}
