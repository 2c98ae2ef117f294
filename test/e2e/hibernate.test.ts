// Mode FILE: hibernate a guest to a file and restore it; refuse to overwrite,
// to write where it cannot, and to restore from missing or corrupt files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { unary } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import { createVm, destroyVm, ensureLab } from '../support/lab.js';
import { agent, closeAgents, domainState, watchToEnd } from '../support/ferry.js';

const VM = 'e2e-hibernate';
// Inside the lab's state directory: the same path in the root and in lab1's mount namespace.
const DIR = '/var/lib/ferry-lab/e2e-hibernate';
const STATE = `${DIR}/vm.save`;
const DEFINITION = `${DIR}/vm.json`;

before(async () => {
  await ensureLab(1);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
});

after(async () => {
  await destroyVm('lab1', VM);
  rmSync(DIR, { recursive: true, force: true });
  closeAgents();
});

test('hibernate then restore gives the same guest back, running', async () => {
  const { uuid } = await createVm('lab1', VM);
  const accepted = await unary(agent('lab1').migration, 'Migrate', {
    vmId: uuid,
    mode: 'MIGRATION_MODE_FILE',
    dst: STATE,
    dstparams: DEFINITION,
  });
  const final = (await watchToEnd('lab1', accepted.jobId)).at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.ok(existsSync(STATE) && existsSync(DEFINITION));
  assert.equal(await domainState('lab1', VM), 'shut off');

  // Saving over the files again is refused unless asked.
  const restored = await unary(agent('lab1').migration, 'Restore', { path: STATE, dstparams: DEFINITION });
  assert.equal(restored.vmId, uuid);
  assert.equal(restored.name, VM);
  assert.equal(await domainState('lab1', VM), 'running');
  await assert.rejects(
    unary(agent('lab1').migration, 'Migrate', { vmId: uuid, mode: 'MIGRATION_MODE_FILE', dst: STATE, dstparams: DEFINITION }),
    (e) => isFerryError(e, 'ALREADY_EXISTS') && /already exists/.test(e.message),
  );
  assert.equal(await domainState('lab1', VM), 'running');
});

test('an unwritable directory is refused before anything happens', async () => {
  const { uuid } = await createVm('lab1', `${VM}-2`);
  try {
    await assert.rejects(
      unary(agent('lab1').migration, 'Migrate', {
        vmId: uuid,
        mode: 'MIGRATION_MODE_FILE',
        dst: '/nonexistent/dir/vm.save',
        dstparams: `${DIR}/x.json`,
      }),
      (e) => isFerryError(e, 'FAILED_PRECONDITION') && /\/nonexistent\/dir/.test(e.message),
    );
    assert.equal(await domainState('lab1', `${VM}-2`), 'running');
  } finally {
    await destroyVm('lab1', `${VM}-2`);
  }
});

test('Restore of a missing or corrupt file is refused with what is wrong', async () => {
  await assert.rejects(
    unary(agent('lab1').migration, 'Restore', { path: `${DIR}/missing.save`, dstparams: DEFINITION }),
    (e) => isFerryError(e, 'NOT_FOUND') && /no saved-state file/.test(e.message),
  );
  const corrupt = `${DIR}/corrupt.json`;
  writeFileSync(corrupt, '{ this is not json');
  chmodSync(corrupt, 0o600);
  writeFileSync(`${DIR}/other.save`, 'x');
  await assert.rejects(
    unary(agent('lab1').migration, 'Restore', { path: `${DIR}/other.save`, dstparams: corrupt }),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /corrupt/.test(e.message),
  );
});
