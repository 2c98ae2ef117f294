// WatchHost on the lab: watchers on lab1 and lab2 see a guest start, pause,
// resume and migrate lab1 → lab2 in order with consecutive revisions; a
// watcher that reconnects with since_revision misses nothing; an agent
// restart leads to RESYNC and a snapshot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { createVm, destroyVm, ensureLab, virsh } from '../support/lab.js';
import { agent, closeAgents, ferryd, waitForStatus } from '../support/ferry.js';
import { HostWatch, consecutive } from '../support/host-watch.js';

const VM = 'e2e-watch-host';
const watches: HostWatch[] = [];
const watch = (host: string, request: { sinceRevision?: number; incarnation?: string } = {}) => {
  const w = new HostWatch(host, request);
  watches.push(w);
  return w;
};

before(async () => {
  await ensureLab(2);
});

after(async () => {
  for (const w of watches) w.close();
  await destroyVm('lab1', VM);
  closeAgents();
});

test('watchers on both hosts see start, pause, resume, migrate-out and migrate-in, in order, with consecutive revisions', async () => {
  const lab1 = watch('lab1');
  const lab2 = watch('lab2');
  await lab1.waitFor('a snapshot from lab1', (w) => w.messages[0]?.snapshot != null);
  await lab2.waitFor('a snapshot from lab2', (w) => w.messages[0]?.snapshot != null);
  assert.equal(lab1.messages[0]?.resync, undefined, 'a fresh watch starts with a snapshot, not RESYNC');
  assert.equal(lab1.messages[0]?.snapshot?.host?.libvirtConnected, true);

  const { uuid } = await createVm('lab1', VM);
  await virsh('lab1', 'suspend', VM);
  await virsh('lab1', 'resume', VM);
  const accepted = await unary(agent('lab1').migration, 'Migrate', {
    vmId: uuid,
    dst: '198.18.0.2',
    dstqemu: '198.19.0.2',
  });
  await waitForStatus('lab1', accepted.jobId, (s) => s.phase === 'MIGRATION_PHASE_COMPLETED', 120_000);
  await lab1.waitFor('migrate-out on lab1', (w) => w.vmEvents(uuid).some((e) => e.startsWith('MIGRATED_OUT/')));
  await lab2.waitFor('migrate-in on lab2', (w) => w.vmEvents(uuid).some((e) => e.startsWith('MIGRATED_IN/')));

  const seen = lab1.vmEvents(uuid);
  // In this order, each after the one before (libvirt also reports RESUMED/unpaused when the
  // guest's CPUs first start, and PAUSED/migrated before MIGRATED_OUT).
  let after = -1;
  const order = ['STARTED/booted', 'PAUSED/paused', 'RESUMED/unpaused', 'MIGRATED_OUT/migrated'].map((e) => {
    after = seen.indexOf(e, after + 1);
    return after;
  });
  assert.ok(
    order.every((at) => at >= 0),
    `lab1 saw ${seen.join(', ')}`,
  );
  assert.ok(lab2.vmEvents(uuid).includes('MIGRATED_IN/migrated'), `lab2 saw ${lab2.vmEvents(uuid).join(', ')}`);
  // The job's phases came on lab1's stream too.
  const phases = lab1.messages.filter((m) => m.migration?.jobId === accepted.jobId).map((m) => m.migration?.phase);
  assert.equal(phases.at(-1), 'MIGRATION_PHASE_COMPLETED', phases.join(', '));
  for (const w of [lab1, lab2]) {
    assert.ok(consecutive([w.messages[0]?.revision ?? -1, ...w.eventRevisions()]), `revisions ${w.eventRevisions().join(',')}`);
    assert.ok(!w.messages.some((m) => m.resync));
  }
});

test('a watcher that reconnects with since_revision gets what happened meanwhile, nothing missing', async () => {
  const first = watch('lab2');
  await first.waitFor('a snapshot', (w) => w.messages[0]?.snapshot != null);
  const last = first.last();
  const since = last?.revision ?? 0;
  const incarnation = last?.incarnation ?? '';
  first.close();
  // The guest lives on lab2 now.
  await virsh('lab2', 'suspend', VM);
  await virsh('lab2', 'resume', VM);
  const again = watch('lab2', { sinceRevision: since, incarnation });
  await again.waitFor('the pause and the resume', (w) => w.messages.filter((m) => m.vm).length >= 2);
  assert.equal(again.messages[0]?.resync, undefined);
  assert.equal(again.messages[0]?.snapshot, undefined, 'a replay, not a snapshot');
  assert.equal(again.messages[0]?.revision, since + 1);
  assert.ok(consecutive(again.messages.map((m) => m.revision)));
  assert.deepEqual(
    again.messages.filter((m) => m.vm).map((m) => m.vm?.event),
    ['VM_LIFECYCLE_EVENT_PAUSED', 'VM_LIFECYCLE_EVENT_RESUMED'],
  );
});

test('after an agent restart, a watcher resuming from the old incarnation gets RESYNC and a snapshot', async () => {
  const before = watch('lab1');
  await before.waitFor('a snapshot', (w) => w.messages[0]?.snapshot != null);
  const last = before.last();
  before.close();
  await ferryd('restart', 'lab1');
  const after = watch('lab1', { sinceRevision: last?.revision ?? 1, incarnation: last?.incarnation ?? '' });
  await after.waitFor('RESYNC and a snapshot', (w) => w.messages.length >= 2);
  assert.equal(after.messages[0]?.resync?.reason, 'RESYNC_REASON_AGENT_RESTARTED');
  assert.notEqual(after.messages[0]?.incarnation, last?.incarnation);
  assert.ok(after.messages[1]?.snapshot, 'a snapshot follows the RESYNC');
});
