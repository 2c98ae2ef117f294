// Migrations that do not complete: each ends CANCELLED or FAILED in bounded
// time, the guest keeps running on the source, and no pinhole stays open.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { createVm, destroyVm, ensureLab, labExec } from '../support/lab.js';
import { agent, closeAgents, domainState, ferryd, pinholeRules, waitForStatus, watchToEnd } from '../support/ferry.js';

const VM = 'e2e-faults';

before(async () => {
  await ensureLab(2);
});

afterEach(async () => {
  await labExec('lab1', ['ip', 'link', 'set', 'eth1', 'up']);
  for (const host of ['lab1', 'lab2']) await destroyVm(host, VM);
});

after(() => closeAgents());

/** A migration that lasts: a guest dirtying memory faster than the capped link copies it. */
async function startSlowMigration(extraPolicy: Record<string, number> = {}) {
  const { uuid } = await createVm('lab1', VM, { memMiB: 384, dirtyMbps: 40 });
  const accepted = await unary(agent('lab1').migration, 'Migrate', {
    vmId: uuid, dst: '198.18.0.2', dstqemu: '198.19.0.2', policy: { maxBandwidthMibps: 8, ...extraPolicy },
  });
  await waitForStatus('lab1', accepted.jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING' && s.data !== null && s.data.processedBytes > 0);
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
  assert.deepEqual(await pinholeRules('lab2'), []);
});

test('the migration NIC taken down mid-migration: FAILED within the stall timeout, not a TCP timeout', async () => {
  const { jobId } = await startSlowMigration({ stallTimeoutS: 8 });
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
  assert.deepEqual(await pinholeRules('lab2'), []);
});

test('the destination agent killed mid-migration: libvirt carries on, the guest runs on one host, no pinhole once it is back', async () => {
  const { jobId } = await startSlowMigration();
  const progress = watchToEnd('lab1', jobId);
  await ferryd('kill', 'lab2');
  // Let it converge now, through ChangeMigrationParams on the running job.
  const { status: changed } = await unary(agent('lab1').migration, 'ChangeMigrationParams', { job: { jobId }, maxBandwidthMibps: 200, maxDowntimeMs: 1000 });
  assert.equal(changed!.maxDowntimeMs, 1000);
  const final = (await progress).at(-1)!;
  assert.ok(['MIGRATION_PHASE_COMPLETED', 'MIGRATION_PHASE_FAILED'].includes(final.phase), final.phase);
  const states = [await domainState('lab1', VM), await domainState('lab2', VM)];
  assert.equal(states.filter((s) => s === 'running').length, 1, `states: ${states}`);
  await ferryd('start', 'lab2');
  assert.deepEqual(await pinholeRules('lab2'), []);
});
