// Migrations that do not complete: each ends CANCELLED or FAILED in bounded
// time, the guest keeps running on the source, and no pinhole stays open.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { createVm, destroyVm, ensureLab, labExec } from '../support/lab.js';
import { agent, closeAgents, domainState, ferryd, pinholeRulesAfterJob, status, waitForStatus, watchToEnd } from '../support/ferry.js';
import { sleep } from '../support/wait.js';
import { protoTimeFromMs, msFromProtoTime } from '../../shared/proto-time.js';
import type { MigrationPolicy } from '../../shared/generated/ferry/v1/MigrationPolicy.js';

const VM = 'e2e-faults';
/** Enough bandwidth and downtime for the dirtying guest to converge in seconds. */
const CONVERGING = { maxBandwidthMibps: 200, initialDowntime: protoTimeFromMs(1000) };

before(async () => {
  await ensureLab(2);
});

afterEach(async () => {
  await labExec('lab1', ['ip', 'link', 'set', 'eth1', 'up']);
  for (const host of ['lab1', 'lab2']) await destroyVm(host, VM);
});

after(() => closeAgents());

/** A migration that lasts: a guest dirtying memory faster than the capped link copies it. */
async function startSlowMigration(extraPolicy: MigrationPolicy = {}) {
  const { uuid } = await createVm('lab1', VM, { memMiB: 384, dirtyMbps: 40 });
  const accepted = await unary(agent('lab1').migration, 'Migrate', {
    vmId: uuid,
    dst: '198.18.0.2',
    dstqemu: '198.19.0.2',
    policy: { maxBandwidthMibps: 8, ...extraPolicy },
  });
  await waitForStatus(
    'lab1',
    accepted.jobId,
    (s) => s.phase === 'MIGRATION_PHASE_MIGRATING' && s.data !== null && s.data.processedBytes > 0,
  );
  return { uuid, jobId: accepted.jobId };
}

test('CancelMigration aborts: CANCELLED, guest running on lab1, no pinhole on lab2', async () => {
  const { jobId } = await startSlowMigration();
  const final = watchToEnd('lab1', jobId);
  const { status } = await unary(agent('lab1').migration, 'CancelMigration', { job: { jobId } });
  assert.equal(status!.phase, 'MIGRATION_PHASE_CANCELLED');
  assert.equal((await final).at(-1)!.phase, 'MIGRATION_PHASE_CANCELLED');
  assert.equal(await domainState('lab1', VM), 'running');
  assert.equal(await domainState('lab2', VM), 'absent');
  assert.deepEqual(await pinholeRulesAfterJob('lab2'), []);
});

test('the migration NIC taken down mid-migration: FAILED within the stall timeout, not a TCP timeout; once it is up, the VM migrates over it', async () => {
  const { uuid, jobId } = await startSlowMigration({ stallTimeout: protoTimeFromMs(8 * 1000) });
  const started = Date.now();
  await labExec('lab1', ['ip', 'link', 'set', 'eth1', 'down']);
  const final = (await watchToEnd('lab1', jobId)).at(-1)!;
  const took = Date.now() - started;
  assert.equal(final.phase, 'MIGRATION_PHASE_FAILED');
  assert.match(final.error!.message, /no progress/);
  assert.ok(took < 60_000, `it took ${took} ms to give up`);
  await labExec('lab1', ['ip', 'link', 'set', 'eth1', 'up']);
  assert.equal(await domainState('lab1', VM), 'running');
  assert.equal(await domainState('lab2', VM), 'absent');
  assert.deepEqual(await pinholeRulesAfterJob('lab2'), []);

  // The link is back: the same VM migrates, over the migration network, fast enough to converge.
  const again = await unary(agent('lab1').migration, 'Migrate', {
    vmId: uuid,
    dst: '198.18.0.2',
    dstqemu: '198.19.0.2',
    policy: CONVERGING,
  });
  const second = (await watchToEnd('lab1', again.jobId)).at(-1)!;
  assert.equal(second.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(second.error));
  assert.equal(second.network, 'NETWORK_ROLE_MIGRATION');
  // The copy really used the NIC that was down (zero pages travel as markers, so fewer bytes than the guest's size).
  const share = second.bytesOnMigrationNic / (second.bytesOnMigrationNic + second.bytesOnManagementNic);
  assert.ok(
    second.bytesOnMigrationNic > 16 * 2 ** 20 && share >= 0.95,
    `${second.bytesOnMigrationNic} bytes on the migration NIC, ${second.bytesOnManagementNic} on the management NIC`,
  );
  assert.equal(await domainState('lab2', VM), 'running');
  assert.notEqual(await domainState('lab1', VM), 'running');
  assert.deepEqual(await pinholeRulesAfterJob('lab2'), []);
});

test('the migration NIC flapping (down 2 s, then up) under a longer stall timeout: the copy resumes and completes', async (t) => {
  const { jobId } = await startSlowMigration({ stallTimeout: protoTimeFromMs(30 * 1000) });
  const progress = watchToEnd('lab1', jobId);
  await labExec('lab1', ['ip', 'link', 'set', 'eth1', 'down']);
  await sleep(2000);
  await labExec('lab1', ['ip', 'link', 'set', 'eth1', 'up']);
  const upAt = Date.now();
  const atUp = (await status('lab1', jobId)).data!.processedBytes;
  // The same TCP stream carries on (TCP retransmits across the gap): progress after the flap.
  const resumed = await waitForStatus(
    'lab1',
    jobId,
    (s) => s.phase !== 'MIGRATION_PHASE_MIGRATING' || s.data!.processedBytes > atUp + 4 * 2 ** 20,
    30_000,
  );
  t.diagnostic(`4 MiB more copied ${Date.now() - upAt} ms after the link came back (phase ${resumed.phase})`);
  assert.equal(resumed.phase, 'MIGRATION_PHASE_MIGRATING');
  await unary(agent('lab1').migration, 'ChangeMigrationParams', {
    job: { jobId },
    maxBandwidthMibps: CONVERGING.maxBandwidthMibps,
    maxDowntime: CONVERGING.initialDowntime,
  });
  const final = (await progress).at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.equal(final.network, 'NETWORK_ROLE_MIGRATION');
  const states = [await domainState('lab1', VM), await domainState('lab2', VM)];
  assert.equal(states.filter((s) => s === 'running').length, 1, `states: ${states}`);
  assert.equal(states[1], 'running');
  assert.deepEqual(await pinholeRulesAfterJob('lab2'), []);
});

test('the destination agent killed mid-migration: libvirt carries on, the guest runs on one host, no pinhole once it is back', async () => {
  const { jobId } = await startSlowMigration();
  const progress = watchToEnd('lab1', jobId);
  await ferryd('kill', 'lab2');
  // Let it converge now, through ChangeMigrationParams on the running job.
  const { status: changed } = await unary(agent('lab1').migration, 'ChangeMigrationParams', {
    job: { jobId },
    maxBandwidthMibps: 200,
    maxDowntime: protoTimeFromMs(1000),
  });
  assert.equal(msFromProtoTime(changed!.maxDowntime), 1000);
  const final = (await progress).at(-1)!;
  assert.ok(['MIGRATION_PHASE_COMPLETED', 'MIGRATION_PHASE_FAILED'].includes(final.phase), final.phase);
  const states = [await domainState('lab1', VM), await domainState('lab2', VM)];
  assert.equal(states.filter((s) => s === 'running').length, 1, `states: ${states}`);
  await ferryd('start', 'lab2');
  assert.deepEqual(await pinholeRulesAfterJob('lab2'), []);
});
