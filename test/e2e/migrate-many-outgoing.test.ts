// Six migrations out of one host at once, more than libvirtd serves on one client connection
// (max_client_requests, default 5, src/remote/libvirtd.conf.in). Each lasts minutes (a guest
// with 128 MiB of non-zero memory sent at 1 MiB/s), so six P2P perform calls stay in flight.
// Were they all on the agent's one libvirt connection, libvirtd would stop reading it: the
// agent's short calls (a downtime change, job stats) would hang, and after keepalive_interval ×
// keepalive_count (30 s) libvirtd would close it and fail all six. The test holds them past
// that, changes one job's downtime, then cancels all six: each ends CANCELLED with its guest
// still running on the source and no pinhole left on the destination.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import { agent, closeAgents, domainState, pinholeRulesAfterJob, status, waitForStatus } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, labHost } from '../support/lab.js';
import { sleep } from '../support/wait.js';

const COUNT = 6;
/** libvirtd's keepalive_interval (5 s) × keepalive_count (5), and a margin. */
const PAST_KEEPALIVE_MS = 40_000;
const names = Array.from({ length: COUNT }, (_, i) => `e2e-many-out-${i}`);
const guests: Array<{ name: string; uuid: string; jobId: string }> = [];
let savedLimits: { lab2: number; lab3: number } | undefined;

before(async () => {
  await ensureLab(3);
  for (const name of names) await destroyVm('lab2', name);
  // Dirtying guests keep a 128 MiB region non-zero: at 1 MiB/s its first pass alone takes minutes.
  const created = await Promise.all(names.map((name) => createVm('lab2', name, { memMiB: 256, dirtyMbps: 1 })));
  for (const { name, uuid } of created) guests.push({ name, uuid, jobId: '' });
  const limits = async (host: string) => (await unary(agent(host).host, 'GetCapabilities', {})).limits;
  savedLimits = { lab2: (await limits('lab2'))?.maxOutgoing ?? 2, lab3: (await limits('lab3'))?.maxIncoming ?? 2 };
  await unary(agent('lab2').migration, 'SetMigrationLimits', { maxOutgoing: COUNT });
  await unary(agent('lab3').migration, 'SetMigrationLimits', { maxIncoming: COUNT });
});

after(async () => {
  if (savedLimits) {
    await unary(agent('lab2').migration, 'SetMigrationLimits', { maxOutgoing: savedLimits.lab2 }).catch(() => undefined);
    await unary(agent('lab3').migration, 'SetMigrationLimits', { maxIncoming: savedLimits.lab3 }).catch(() => undefined);
  }
  for (const name of names) await destroyVm('lab2', name).catch(() => undefined);
  closeAgents();
});

test(`${COUNT} migrations out of one host outlive libvirtd's per-client limit and keepalive; all cancel cleanly`, {
  timeout: 400_000,
}, async () => {
  const lab3 = labHost('lab3');
  for (const g of guests) {
    const { jobId } = await unary(agent('lab2').migration, 'Migrate', {
      vmId: g.uuid,
      dst: lab3.mgmtIp,
      dstqemu: lab3.migIp,
      policy: { maxBandwidthMibps: 1 },
    });
    g.jobId = jobId;
  }
  for (const g of guests) await waitForStatus('lab2', g.jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING', 120_000);

  await sleep(PAST_KEEPALIVE_MS);
  const phases = await Promise.all(guests.map(async (g) => `${g.name} ${(await status('lab2', g.jobId)).phase}`));
  assert.deepEqual(
    phases,
    guests.map((g) => `${g.name} MIGRATION_PHASE_MIGRATING`),
    `all ${COUNT} still migrating ${PAST_KEEPALIVE_MS / 1000} s later`,
  );
  // A short libvirt call while six long ones are in flight: answered, not queued behind them.
  const [first] = guests;
  assert.ok(first);
  await unary(agent('lab2').migration, 'ChangeMigrationParams', {
    job: { jobId: first.jobId },
    maxDowntime: protoTimeFromMs(400),
  });

  await Promise.all(guests.map((g) => unary(agent('lab2').migration, 'CancelMigration', { job: { jobId: g.jobId } })));
  const ends = await Promise.all(
    guests.map(async (g) => {
      const end = await waitForStatus(
        'lab2',
        g.jobId,
        (s) => !['MIGRATION_PHASE_MIGRATING', 'MIGRATION_PHASE_PREPARING'].includes(s.phase),
        120_000,
      );
      return `${g.name} ${end.phase} ${await domainState('lab2', g.name)}`;
    }),
  );
  assert.deepEqual(
    ends,
    guests.map((g) => `${g.name} MIGRATION_PHASE_CANCELLED running`),
  );
  assert.deepEqual(await pinholeRulesAfterJob('lab3'), [], 'no pinhole left on the destination');
});
