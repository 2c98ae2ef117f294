// Safe retries on the lab (AIP-155): Migrate retried three times with one
// request_id makes one job, also when the source agent is SIGKILLed between
// the retries, and after the job ended; the same id with another request is
// refused with FAILED_PRECONDITION. The unit tests
// (test/unit/migration-retries.test.ts) cover the same rules with in-memory
// ports; this one proves the journal carries the id across a real crash.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { unary } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import type { MigrateRequest } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import { createVm, destroyVm, ensureLab, readLabState } from '../support/lab.js';
import { agent, closeAgents, domainState, ferryd, waitForStatus, watchToEnd } from '../support/ferry.js';

const VM = 'e2e-retry';

before(async () => {
  await ensureLab(2);
});

afterEach(async () => {
  await ferryd('start', 'lab1');
  for (const host of ['lab1', 'lab2']) await destroyVm(host, VM);
});

after(() => closeAgents());

/** Every job of the VM lab1's agent lists, following pages. */
async function jobsOf(vmId: string): Promise<string[]> {
  const ids: string[] = [];
  let pageToken = '';
  do {
    const page = await unary(agent('lab1').migration, 'ListMigrations', { vmId, pageSize: 100, pageToken });
    ids.push(...page.jobs.map((j) => j.jobId));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return ids;
}

/** The request ids in lab1's journal, by job. */
function journaledRequestId(jobId: string): string | undefined {
  const dir = readLabState().hosts.find((h) => h.name === 'lab1')!.dir;
  const record = JSON.parse(readFileSync(path.join(dir, 'ferry', 'jobs', `${jobId}.json`), 'utf8')) as {
    data: { request?: { id: string } };
  };
  return record.data.request?.id;
}

test('Migrate retried three times with one request_id makes one job, also across a SIGKILL of the agent between the retries', async () => {
  // A migration that lasts: a dirtying guest over a link capped at 8 MiB/s.
  const { uuid } = await createVm('lab1', VM, { memMiB: 384, dirtyMbps: 40 });
  const requestId = randomUUID();
  const request: MigrateRequest = {
    vmId: uuid,
    dst: '198.18.0.2',
    dstqemu: '198.19.0.2',
    policy: { maxBandwidthMibps: 8 },
    requestId,
  };

  const first = await unary(agent('lab1').migration, 'Migrate', request);
  await waitForStatus('lab1', first.jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING');
  const second = await unary(agent('lab1').migration, 'Migrate', request);
  assert.equal(second.jobId, first.jobId, 'retry 1, the agent running');
  assert.equal(journaledRequestId(first.jobId), requestId);

  await ferryd('kill', 'lab1'); // SIGKILL: only the journal remembers the id
  await ferryd('start', 'lab1');
  const third = await unary(agent('lab1').migration, 'Migrate', request);
  assert.equal(third.jobId, first.jobId, 'retry 2, after the SIGKILL');
  assert.notEqual(third.phase, 'MIGRATION_PHASE_QUEUED', 'the answer is the running job, not a new one');

  await assert.rejects(
    unary(agent('lab1').migration, 'Migrate', { ...request, policy: { maxBandwidthMibps: 16 } }),
    (err) => isFerryError(err, 'FAILED_PRECONDITION') && err.details.field === 'request_id' && err.reason === 'REQUEST_ID_REUSED',
  );

  // Let it converge and end, then retry once more: still the same job, now COMPLETED.
  const end = watchToEnd('lab1', first.jobId);
  await unary(agent('lab1').migration, 'ChangeMigrationParams', {
    job: { jobId: first.jobId },
    maxBandwidthMibps: 400,
    maxDowntime: { seconds: 2, nanos: 0 },
  });
  const final = (await end).at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', final.error?.message);
  const fourth = await unary(agent('lab1').migration, 'Migrate', request);
  assert.equal(fourth.jobId, first.jobId, 'retry 3, after the job ended');
  assert.equal(fourth.phase, 'MIGRATION_PHASE_COMPLETED');

  assert.deepEqual(await jobsOf(uuid), [first.jobId], 'one job for the VM on the source');
  assert.equal(await domainState('lab2', VM), 'running');
  assert.equal(await domainState('lab1', VM), 'absent');
});
