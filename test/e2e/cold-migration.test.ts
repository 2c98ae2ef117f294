// Cold migration (mode COLD) on the lab, lab1 → lab2: a shut-off guest with a
// qcow2 (4 GiB virtual, 300 MiB written) in lab1's own image directory and a
// sparse raw disk outside any pool moves with both disks over the migration
// network, through lab2's pinhole, between the two agents only; then it
// starts on lab2. Every fault — a cancel, either agent killed, a destination
// that runs out of room, a byte corrupted on the way — leaves lab1 with the
// VM and its disks as they were, and lab2 with nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import {
  agent,
  closeAgents,
  ferryd,
  pinholesOn,
  pinholeRulesAfterJob,
  sockets,
  status,
  tryConnect,
  waitForStatus,
  watchToEnd,
} from '../support/ferry.js';
import {
  allocatedBytes,
  checksums,
  createColdGuest,
  defined,
  exists,
  mappedRaw,
  removeColdGuest,
  removeCopy,
  shapeMigrationNic,
  type ColdGuest,
} from '../support/cold-lab.js';
import { ensureLab, labExec, virsh } from '../support/lab.js';
import { until } from '../support/wait.js';

const MAPPED_DIR = '/var/lib/libvirt/images';
const guests: ColdGuest[] = [];

before(async () => {
  await ensureLab(3);
});

after(async () => {
  await shapeMigrationNic('lab1', 0);
  await labExec('lab2', ['umount', '-l', MAPPED_DIR], { allowFail: true });
  for (const g of guests) await removeColdGuest(['lab1', 'lab2'], g);
  closeAgents();
});

async function guest(name: string): Promise<ColdGuest> {
  const g = await createColdGuest('lab1', name);
  guests.push(g);
  return g;
}

function migrateCold(g: ColdGuest, extra: Record<string, unknown> = {}) {
  return unary(agent('lab1').migration, 'Migrate', {
    vmId: g.uuid,
    dst: '198.18.0.2',
    mode: 'MIGRATION_MODE_COLD',
    dstqemu: '198.19.0.2',
    ...extra,
  });
}

/** lab1 still has the guest, shut off, with both disks as they were; lab2 has nothing of it and no pinhole for it. */
async function assertUndone(g: ColdGuest, before: string[]): Promise<void> {
  assert.equal(await defined('lab1', g.name), true, 'the VM is still defined on lab1');
  assert.equal((await virsh('lab1', 'domstate', g.name)).trim(), 'shut off');
  assert.deepEqual(await checksums('lab1', [g.qcow2, g.raw]), before, "lab1's disks are as they were");
  await until('lab2 has removed its copies', async () => !(await exists('lab2', g.qcow2)) && !(await exists('lab2', mappedRaw(g))), {
    timeoutMs: 90_000,
    everyMs: 500,
  });
  assert.equal(await defined('lab2', g.name), false, 'the VM is not defined on lab2');
  assert.deepEqual(await pinholeRulesAfterJob('lab2'), []);
}

/** Waits until the transfer has moved some data (lab1's status), and returns the pinhole's port on lab2. */
async function midTransfer(jobId: string): Promise<{ port: number; status: MigrationProgress__Output }> {
  const s = await waitForStatus(
    'lab1',
    jobId,
    (p) => p.coldCopy?.step === 'COLD_STEP_TRANSFER' && Number(p.data?.processedBytes ?? 0) > 8 << 20,
    120_000,
  );
  const holes = await pinholesOn('lab2');
  assert.equal(holes.length, 1, holes.map((h) => h.text).join('\n'));
  return { port: holes[0]!.ports[0]!, status: s };
}

test('a shut-off guest moves with both disks over the migration network, and starts on lab2', async () => {
  const g = await guest('cold-main');
  const before = await checksums('lab1', [g.qcow2, g.raw]);
  const written = (await allocatedBytes('lab1', g.qcow2)) + (await allocatedBytes('lab1', g.raw));
  // 400 Mbit/s on lab1's migration NIC: the transfer lasts long enough to knock from lab3 meanwhile.
  await shapeMigrationNic('lab1', 400);
  const accepted = await migrateCold(g);
  const progress = watchToEnd('lab1', accepted.jobId);
  const { port } = await midTransfer(accepted.jobId);
  const holes = await pinholesOn('lab2');
  assert.deepEqual([holes[0]!.source, holes[0]!.destination], ['198.19.0.1', '198.19.0.2'], holes[0]!.text);
  // The data channel runs between the two migration addresses, and lab3 cannot reach its port (the firewall turns it away).
  const onPort = await sockets('lab2', port);
  assert.ok(
    onPort.some((s) => new RegExp(`^ESTAB 198\\.19\\.0\\.2:${port} 198\\.19\\.0\\.1:\\d+$`).test(s)),
    `the transfer connection on lab2: ${onPort.join('; ')}`,
  );
  assert.notEqual(await tryConnect('lab3', '198.19.0.2', port), 'connected');
  const seen = await progress;
  const final = seen.at(-1)!;
  await shapeMigrationNic('lab1', 0);
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.ok(
    seen.some((s) => s.coldCopy?.current === 'vdb' && Number(s.data?.processedBytes) > 0),
    'progress named the volume being sent, with its bytes',
  );

  // Both disks on lab2, byte for byte; the raw one mapped into lab2's image directory, and still sparse.
  const cold = final.coldCopy!;
  assert.equal(cold.step, 'COLD_STEP_DONE');
  assert.deepEqual(
    cold.volumes.map((v) => [v.id, v.sourcePath, v.destinationPath]),
    [
      ['vda', g.qcow2, g.qcow2],
      ['vdb', g.raw, mappedRaw(g)],
    ],
  );
  assert.deepEqual(await checksums('lab2', [g.qcow2, mappedRaw(g)]), before);
  assert.ok((await allocatedBytes('lab2', mappedRaw(g))) < 64 << 20, 'the raw copy stays sparse');
  assert.equal((await labExec('lab2', ['qemu-img', 'check', '-q', g.qcow2], { allowFail: true })).code, 0);

  // Holes were never sent: the bytes on the migration NIC are the written data, and nothing went over management.
  const onMigration = Number(final.bytesOnMigrationNic);
  assert.ok(onMigration <= 1.05 * written, `${onMigration} bytes on the migration NIC for ${written} bytes written`);
  assert.ok(onMigration >= 0.95 * written, `${onMigration} bytes on the migration NIC for ${written} bytes written`);
  assert.ok(Number(final.bytesOnManagementNic) < 0.01 * written, `${final.bytesOnManagementNic} bytes on the management NIC`);

  // The definition moved (offline migration) with lab2's path, and lab1 has neither the VM nor its disks.
  assert.match(await virsh('lab2', 'dumpxml', g.name), new RegExp(`<source file='${mappedRaw(g)}'`));
  assert.equal(await defined('lab1', g.name), false);
  assert.equal(await exists('lab1', g.qcow2), false);
  assert.equal(await exists('lab1', g.raw), false);
  assert.deepEqual(await pinholeRulesAfterJob('lab2'), []);
  await virsh('lab2', 'start', g.name);
  assert.equal((await virsh('lab2', 'domstate', g.name)).trim(), 'running');
  await virsh('lab2', 'destroy', g.name);
});

test('keep_source keeps lab1 copy; a second move to the same host is refused: the VM is defined there', async () => {
  const g = await guest('cold-keep');
  const before = await checksums('lab1', [g.qcow2, g.raw]);
  const accepted = await migrateCold(g, { keepSource: true });
  const final = (await watchToEnd('lab1', accepted.jobId)).at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.equal(final.coldCopy?.keepSource, true);
  assert.deepEqual(await checksums('lab1', [g.qcow2, g.raw]), before);
  assert.deepEqual(await checksums('lab2', [g.qcow2, mappedRaw(g)]), before);
  await assert.rejects(migrateCold(g), (err: Error & { details?: string }) => /already defined on this host/.test(err.message));
  assert.deepEqual(await checksums('lab2', [g.qcow2, mappedRaw(g)]), before, "lab2's own copy is untouched by the refusal");
  await removeCopy('lab2', g);
});

test('a running guest is refused with what to do', async () => {
  const g = await guest('cold-running');
  await virsh('lab1', 'start', g.name);
  await assert.rejects(migrateCold(g), /is running: a cold migration \(mode COLD\) moves a shut-off VM/);
  await virsh('lab1', 'destroy', g.name);
});

test('a cancel during the transfer leaves lab1 as it was and lab2 clean', async () => {
  const g = await guest('cold-cancel');
  const before = await checksums('lab1', [g.qcow2, g.raw]);
  await shapeMigrationNic('lab1', 200);
  try {
    const accepted = await migrateCold(g);
    await midTransfer(accepted.jobId);
    await unary(agent('lab1').migration, 'CancelMigration', { job: { jobId: accepted.jobId } });
    const final = await status('lab1', accepted.jobId);
    assert.equal(final.phase, 'MIGRATION_PHASE_CANCELLED', JSON.stringify(final.error));
  } finally {
    await shapeMigrationNic('lab1', 0);
  }
  await assertUndone(g, before);
});

for (const killed of ['lab1', 'lab2'] as const) {
  test(`${killed}'s agent SIGKILLed mid-transfer: lab1 keeps the VM, lab2 keeps nothing`, async () => {
    const g = await guest(`cold-kill-${killed}`);
    const before = await checksums('lab1', [g.qcow2, g.raw]);
    await shapeMigrationNic('lab1', 200);
    try {
      const accepted = await migrateCold(g);
      await midTransfer(accepted.jobId);
      await ferryd('kill', killed);
      await ferryd('start', killed);
      const final = await waitForStatus('lab1', accepted.jobId, (s) => s.phase === 'MIGRATION_PHASE_FAILED', 120_000);
      assert.equal(final.error?.step, killed === 'lab1' ? 'recover' : 'transfer', JSON.stringify(final.error));
    } finally {
      await shapeMigrationNic('lab1', 0);
    }
    await assertUndone(g, before);
  });
}

test('a destination that runs out of room mid-transfer fails the job and keeps nothing', async () => {
  const g = await guest('cold-enospc');
  const before = await checksums('lab1', [g.qcow2, g.raw]);
  // lab2's image directory on a 512 MiB tmpfs: room for the ~320 MiB the volumes hold, until a file takes it.
  await labExec('lab2', ['mount', '-t', 'tmpfs', '-o', 'size=512M', 'tmpfs', MAPPED_DIR]);
  await shapeMigrationNic('lab1', 200);
  try {
    const accepted = await migrateCold(g);
    await midTransfer(accepted.jobId);
    await labExec('lab2', ['fallocate', '-l', '400M', `${MAPPED_DIR}/hog`]);
    const final = (await watchToEnd('lab1', accepted.jobId)).at(-1)!;
    assert.equal(final.phase, 'MIGRATION_PHASE_FAILED');
    assert.match(final.error?.message ?? '', /No space left on device|ENOSPC|space/i, JSON.stringify(final.error));
    await assertUndone(g, before);
  } finally {
    await shapeMigrationNic('lab1', 0);
    await labExec('lab2', ['umount', '-l', MAPPED_DIR], { allowFail: true });
  }
});

test('a byte corrupted on the way fails the volume on the checksum and leaves lab2 clean', async () => {
  const g = await guest('cold-corrupt');
  const before = await checksums('lab1', [g.qcow2, g.raw]);
  // The destination's test hook flips one byte of what arrives, before it is hashed and written.
  await ferryd('restart', 'lab2', { FERRY_TEST_CORRUPT_TRANSFER: '1' });
  try {
    const accepted = await migrateCold(g);
    const final = (await watchToEnd('lab1', accepted.jobId)).at(-1)!;
    assert.equal(final.phase, 'MIGRATION_PHASE_FAILED');
    assert.equal(final.error?.step, 'transfer');
    assert.match(final.error?.message ?? '', /volume vd[ab] did not verify: SHA-256 differs/, JSON.stringify(final.error));
  } finally {
    await ferryd('restart', 'lab2');
  }
  await assertUndone(g, before);
});
