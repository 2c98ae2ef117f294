// ListMigrations a page at a time: newest first (by acceptance time, then
// job id), page boundaries, filters, tokens that belong to other filters or
// to nobody, and pages that stay right while jobs arrive or are forgotten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobRegistry } from '../../agent/migration/jobs/job-registry.js';
import { type JobQuery, MAX_PAGE_SIZE, pageOf } from '../../agent/migration/jobs/job-pages.js';
import { MigrationJob } from '../../agent/migration/jobs/migration-job.js';
import type { MigrationPhase } from '../../agent/migration/types.js';
import { isFerryError } from '../../shared/errors.js';
import { remoteCommand } from '../support/migration-fixtures.js';

const VM_A = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const VM_B = '7f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f51';

/** Jobs accepted at chosen times, in a registry that keeps them an hour. */
function registryOf(jobs: Array<{ id: string; at: number; vm?: string; phase?: MigrationPhase }>) {
  const registry = new JobRegistry(3600_000, () => 1_000_000);
  const add = (spec: { id: string; at: number; vm?: string; phase?: MigrationPhase }) => {
    const job = new MigrationJob(spec.id, remoteCommand(spec.vm ?? VM_A), () => spec.at, 'queued');
    if (spec.phase === 'preparing' || spec.phase === 'failed') job.setPhase(spec.phase);
    if (spec.phase === 'cancelled') job.setPhase('cancelled');
    registry.add(job);
    return job;
  };
  for (const spec of jobs) add(spec);
  const page = (query: JobQuery) =>
    pageOf(
      registry.list(false).map((j) => j.snapshot()),
      query,
    );
  /** Every page of a query, following tokens; the ids of each page. */
  const all = (query: JobQuery) => {
    const pages: string[][] = [];
    let token = '';
    do {
      const p = page({ ...query, pageToken: token });
      pages.push(p.jobs.map((j) => j.jobId));
      token = p.nextPageToken;
    } while (token);
    return pages;
  };
  return { registry, add, page, all };
}

const seven = [
  { id: 'j1', at: 100 },
  { id: 'j2', at: 200 },
  { id: 'j3', at: 200 },
  { id: 'j4', at: 200 },
  { id: 'j5', at: 300 },
  { id: 'j6', at: 400 },
  { id: 'j7', at: 400 },
];

test('newest first, ties broken by job id; pages of page_size and an empty token after the last', () => {
  const { all, page } = registryOf(seven);
  assert.deepEqual(all({ pageSize: 3 }), [['j7', 'j6', 'j5'], ['j4', 'j3', 'j2'], ['j1']]);
  assert.deepEqual(all({ pageSize: 7 }), [['j7', 'j6', 'j5', 'j4', 'j3', 'j2', 'j1']], 'exactly one full page: no token');
  const first = page({ pageSize: 2 });
  assert.notEqual(first.nextPageToken, '');
  assert.deepEqual(
    page({ pageSize: 4, pageToken: first.nextPageToken }).jobs.map((j) => j.jobId),
    ['j5', 'j4', 'j3', 'j2'],
    'page_size may change between pages',
  );
});

test('a page boundary inside a run of equal start times neither repeats nor skips a job', () => {
  const { all } = registryOf(seven);
  for (let size = 1; size <= 7; size++) {
    assert.deepEqual(all({ pageSize: size }).flat(), ['j7', 'j6', 'j5', 'j4', 'j3', 'j2', 'j1'], `page_size ${size}`);
  }
});

test('jobs accepted between two pages do not shift the next page (an offset would repeat j5)', () => {
  const { registry, add, page } = registryOf(seven);
  const first = page({ pageSize: 3 });
  add({ id: 'j8', at: 500 });
  add({ id: 'j0', at: 400 }); // as old as j6 and j7, listed after them: still before the position (j5)
  const second = page({ pageSize: 3, pageToken: first.nextPageToken });
  assert.deepEqual(
    second.jobs.map((j) => j.jobId),
    ['j4', 'j3', 'j2'],
  );
  assert.deepEqual(
    registry.list(false).map((j) => j.id),
    ['j8', 'j7', 'j6', 'j0', 'j5', 'j4', 'j3', 'j2', 'j1'],
    'a fresh first page shows the new jobs',
  );
});

test('filters: vm_id, phases (any of), active_only, and all of them together', () => {
  const { all } = registryOf([
    { id: 'a1', at: 1, vm: VM_A, phase: 'failed' },
    { id: 'a2', at: 2, vm: VM_A, phase: 'queued' },
    { id: 'b1', at: 3, vm: VM_B, phase: 'cancelled' },
    { id: 'b2', at: 4, vm: VM_B, phase: 'preparing' },
    { id: 'a3', at: 5, vm: VM_A, phase: 'preparing' },
  ]);
  assert.deepEqual(all({ vmId: VM_A }).flat(), ['a3', 'a2', 'a1']);
  assert.deepEqual(all({ phases: ['failed', 'cancelled'] }).flat(), ['b1', 'a1']);
  assert.deepEqual(all({ activeOnly: true }).flat(), ['a3', 'b2', 'a2']);
  assert.deepEqual(all({ vmId: VM_A, activeOnly: true, phases: ['preparing'] }).flat(), ['a3']);
  assert.deepEqual(all({ vmId: VM_A, pageSize: 1 }), [['a3'], ['a2'], ['a1']], 'filters hold on every page');
  assert.deepEqual(all({ vmId: '00000000-0000-4000-8000-000000000000' }), [[]]);
});

test('a token from other filters, a token nobody made and a negative page_size are INVALID_ARGUMENT', () => {
  const { page } = registryOf(seven);
  const token = page({ pageSize: 2, activeOnly: true }).nextPageToken;
  const invalid = (field: string) => (err: unknown) => isFerryError(err, 'INVALID_ARGUMENT') && err.details.field === field;
  assert.throws(() => page({ pageSize: 2, pageToken: token }), invalid('page_token'));
  assert.throws(() => page({ pageSize: 2, activeOnly: true, vmId: VM_A, pageToken: token }), invalid('page_token'));
  assert.throws(() => page({ pageToken: 'not-a-token' }), invalid('page_token'));
  assert.throws(() => page({ pageToken: Buffer.from('{"f":1}').toString('base64url') }), invalid('page_token'));
  assert.throws(() => page({ pageSize: -1 }), invalid('page_size'));
  assert.equal(page({ pageSize: 2, activeOnly: true, pageToken: token }).jobs.length, 2, 'the same filters accept it');
  assert.equal(page({ pageSize: 2, phases: ['queued', 'preparing'] }).nextPageToken.length > 0, true);
  const byPhases = page({ pageSize: 2, phases: ['queued', 'preparing'] }).nextPageToken;
  assert.equal(
    page({ pageSize: 2, phases: ['preparing', 'queued'], pageToken: byPhases }).jobs.length,
    2,
    'phases in another order are the same filter',
  );
});

test('page_size: 0 means 50, above the maximum it is lowered to 500', () => {
  const many = Array.from({ length: MAX_PAGE_SIZE + 1 }, (_, i) => ({ id: `j${String(i).padStart(4, '0')}`, at: i }));
  const { page } = registryOf(many);
  assert.equal(page({}).jobs.length, 50);
  assert.equal(page({ pageSize: 10_000 }).jobs.length, MAX_PAGE_SIZE);
  const next = page({ pageSize: 10_000 }).nextPageToken;
  assert.deepEqual(
    page({ pageSize: 10_000, pageToken: next }).jobs.map((j) => j.jobId),
    ['j0000'],
  );
});
