// The job journal: records survive a "restart" (a new instance on the same
// directory), the newest write of a job wins, torn files are skipped, old
// finished jobs are pruned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileJournal } from '../../agent/journal/file-journal.js';

function scratch(): string {
  return mkdtempSync(path.join(tmpdir(), 'ferry-journal-'));
}

test('records survive a new instance, and the last of concurrent writes wins', async () => {
  const dir = scratch();
  try {
    const journal = new FileJournal<{ phase: string }>(dir);
    const writes = ['queued', 'preparing', 'migrating', 'completed'].map((phase, i) => journal.write('job-1', i === 3, { phase }));
    await Promise.all(writes);
    await journal.write('job-2', false, { phase: 'migrating' });
    const reopened = new FileJournal<{ phase: string }>(dir).load();
    assert.deepEqual(reopened.map((r) => [r.jobId, r.data.phase, r.finished]).sort(), [
      ['job-1', 'completed', true],
      ['job-2', 'migrating', false],
    ]);
    assert.deepEqual(readdirSync(path.join(dir, 'jobs')).sort(), ['job-1.json', 'job-2.json'], 'no temporary files left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writes that wait behind one in progress are merged: one fsync for the newest, every caller answered once it is durable', async () => {
  const dir = scratch();
  try {
    const journal = new FileJournal<{ phase: string }>(dir);
    const landed: string[] = [];
    const internals = journal as unknown as { writeNow: (r: { data: { phase: string } }) => Promise<void> };
    const writeNow = internals.writeNow.bind(journal);
    internals.writeNow = async (record) => {
      await writeNow(record);
      landed.push(record.data.phase);
    };
    const first = journal.write('job-1', false, { phase: 'queued' });
    await new Promise((r) => setImmediate(r)); // the first write is under way
    const later = ['preparing', 'migrating', 'completed'].map((phase, i) => journal.write('job-1', i === 2, { phase }));
    await Promise.all([first, ...later]);
    assert.deepEqual(landed, ['queued', 'completed'], 'the two snapshots in between were never written');
    assert.deepEqual(
      new FileJournal<{ phase: string }>(dir).load().map((r) => [r.data.phase, r.finished]),
      [['completed', true]],
    );
    await journal.write('job-1', true, { phase: 'completed again' });
    assert.deepEqual(landed, ['queued', 'completed', 'completed again'], 'a write with nothing in progress is not held back');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a torn file is reported and skipped; old finished jobs are pruned, unfinished ones kept', async () => {
  const dir = scratch();
  let now = 1_000_000;
  try {
    const journal = new FileJournal<number>(dir, () => now);
    await journal.write('old-done', true, 1);
    await journal.write('old-running', false, 2);
    now += 10_000;
    await journal.write('new-done', true, 3);
    writeFileSync(path.join(dir, 'jobs', 'torn.json'), '{"jobId":"torn","wri');
    const corrupt: string[] = [];
    assert.equal(journal.load((file) => corrupt.push(path.basename(file))).length, 3);
    assert.deepEqual(corrupt, ['torn.json']);
    assert.equal(journal.prune(5_000), 1);
    const ids = () =>
      journal
        .load()
        .map((r) => r.jobId)
        .sort();
    assert.deepEqual(ids(), ['new-done', 'old-running']);
    now += 1;
    await journal.write('newest-done', true, 4);
    assert.equal(journal.prune(5_000, 1), 1, 'beyond max_retained the oldest finished record goes');
    assert.deepEqual(ids(), ['newest-done', 'old-running']);
    assert.throws(() => journal.write('../escape', true, 0), /unusable job id/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
