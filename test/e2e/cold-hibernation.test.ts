// Restore elsewhere: a guest hibernated on lab1 (mode FILE) moves to lab2 as a
// cold migration whose dstparams names the hibernation's definition file, so
// the saved state travels with it; Restore on lab2 brings the guest back
// where it was: its dirtier's clock goes on from where it stopped, with no
// new boot and no corrupted page.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { agent, closeAgents, domainState, watchToEnd } from '../support/ferry.js';
import { exists } from '../support/cold-lab.js';
import { createVm, destroyVm, ensureLab, labExec, readConsole } from '../support/lab.js';
import { waitForDirtier } from '../support/libvirt-lab.js';
import { guestUptimeS } from '../support/postcopy-lab.js';
import { until } from '../support/wait.js';

const VM = 'cold-hibernated';
// lab1's own image directory: the same path is inside lab2's, so lab2 keeps it.
const STATE = `/var/lib/libvirt/images/${VM}.save`;
const DEFINITION = `/var/lib/libvirt/images/${VM}.json`;

before(async () => {
  await ensureLab(2);
  // A fresh lab host has no image directory until a guest with a disk made one.
  await labExec('lab1', ['mkdir', '-p', '/var/lib/libvirt/images']);
});

after(async () => {
  await destroyVm('lab1', VM);
  for (const host of ['lab1', 'lab2']) await labExec(host, ['rm', '-f', STATE, DEFINITION], { allowFail: true });
  closeAgents();
});

test('a hibernated guest moves to lab2 with its saved state, and Restore there resumes it where it was', async () => {
  const { uuid } = await createVm('lab1', VM, { dirtyMbps: 1, memMiB: 256 });
  await waitForDirtier('lab1', VM, 180_000);
  await until('the dirtier to report its clock', async () => (await guestUptimeS('lab1', VM)) > 0, { timeoutMs: 60_000, everyMs: 1000 });
  const hibernated = await unary(agent('lab1').migration, 'Migrate', {
    vmId: uuid,
    mode: 'MIGRATION_MODE_FILE',
    dst: STATE,
    dstparams: DEFINITION,
  });
  const saved = (await watchToEnd('lab1', hibernated.jobId)).at(-1)!;
  assert.equal(saved.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(saved.error));
  const clockAtSave = await guestUptimeS('lab1', VM);

  const moved = await unary(agent('lab1').migration, 'Migrate', {
    vmId: uuid,
    dst: '198.18.0.2',
    mode: 'MIGRATION_MODE_COLD',
    dstqemu: '198.19.0.2',
    dstparams: DEFINITION,
  });
  const final = (await watchToEnd('lab1', moved.jobId)).at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  const cold = final.coldCopy!;
  assert.deepEqual(
    cold.volumes.map((v) => [v.id, v.destinationPath]),
    [['saved-state', STATE]],
  );
  assert.deepEqual([cold.restorePath, cold.restoreDstparams], [STATE, DEFINITION]);
  // lab1 has neither the files nor the definition; lab2 has both files and the definition (shut off).
  assert.equal(await exists('lab1', STATE), false);
  assert.equal(await exists('lab1', DEFINITION), false);
  assert.equal(await domainState('lab2', VM), 'shut off');

  const restored = await unary(agent('lab2').migration, 'Restore', { path: cold.restorePath, dstparams: cold.restoreDstparams });
  assert.equal(restored.vmId, uuid);
  assert.equal(await domainState('lab2', VM), 'running');
  // The guest goes on: its clock passes the last value lab1 saw, and it never boots again on lab2.
  await until('the dirtier to go on on lab2', async () => (await guestUptimeS('lab2', VM)) > clockAtSave, {
    timeoutMs: 90_000,
    everyMs: 1000,
  });
  const console = await readConsole('lab2', VM);
  assert.doesNotMatch(console, /ferry-dirtier: started/, 'the guest booted again on lab2');
  assert.doesNotMatch(console, /CORRUPTION/);
});
