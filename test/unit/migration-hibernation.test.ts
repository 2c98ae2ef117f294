// Mode FILE and Restore through the HibernationFiles port: which targets are
// refused, the definition written before libvirt saves, what a failure
// removes, and what Restore checks before libvirt is asked. Then the
// port's file-system adapter on a temporary directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHibernationTargets, restoreHibernated, runHibernation } from '../../agent/migration/outgoing/hibernation.js';
import { MigrationJob } from '../../agent/migration/jobs/migration-job.js';
import { LocalHibernationFiles } from '../../agent/storage/local-hibernation-files.js';
import { FerryError, isFerryError } from '../../shared/errors.js';
import { FakeHibernationFiles, FakeHypervisor, fastClock } from '../support/fake-ports.js';
import { remoteCommand } from '../support/migration-fixtures.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const STATE = '/srv/saves/vm.save';
const DEFINITION = '/srv/saves/vm.json';
const fileCommand = (overwrite = false) => remoteCommand(VM, { mode: 'file', dst: STATE, dstparams: DEFINITION, overwrite });

function setup() {
  const hypervisor = new FakeHypervisor();
  hypervisor.addVm(VM);
  const files = new FakeHibernationFiles();
  const deps = { hypervisor, hibernationFiles: files, clock: fastClock, answerWaitMs: 50, pollIntervalMs: 5 };
  return { hypervisor, files, deps };
}

test('targets: an existing file is ALREADY_EXISTS unless overwrite; a directory the agent cannot write is FAILED_PRECONDITION; the two must differ', async () => {
  const { files } = setup();
  await checkHibernationTargets(fileCommand(), files);
  files.files.set(DEFINITION, '{}');
  await assert.rejects(
    checkHibernationTargets(fileCommand(), files),
    (e) => isFerryError(e, 'ALREADY_EXISTS') && (e as FerryError).details.field === 'dstparams',
  );
  await checkHibernationTargets(fileCommand(true), files);
  files.readOnlyDirs.add('/srv/saves');
  await assert.rejects(
    checkHibernationTargets(fileCommand(true), files),
    (e) => isFerryError(e, 'FAILED_PRECONDITION') && /directory \/srv\/saves does not exist or is not writable/.test(e.message),
  );
  await assert.rejects(
    checkHibernationTargets({ ...fileCommand(), dstparams: STATE }, new FakeHibernationFiles()),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && (e as FerryError).details.field === 'dstparams',
  );
  assert.deepEqual(files.log, [], 'checking touches nothing');
});

test('a save writes the definition first, then libvirt saves; the definition names the state and holds the domain XML', async () => {
  const { hypervisor, files, deps } = setup();
  const order: string[] = [];
  hypervisor.save = async (...args: unknown[]) => {
    const path = args[1] as string;
    order.push(`save ${path} (definition there: ${files.files.has(DEFINITION)})`);
  };
  const job = new MigrationJob('job-1', fileCommand(), () => Date.now(), 'preparing');
  await runHibernation(job, deps);
  assert.equal(job.phase, 'completed');
  assert.deepEqual(order, [`save ${STATE} (definition there: true)`]);
  const definition = JSON.parse(files.files.get(DEFINITION)!);
  assert.equal(definition.format, 'ferry.hibernation/v1');
  assert.equal(definition.statePath, STATE);
  assert.equal(definition.domainXml, '<domain/>');
});

test('a save libvirt refuses, the VM still running: both files are removed, FAILED at step save', async () => {
  const { hypervisor, files, deps } = setup();
  hypervisor.save = async () => {
    throw new FerryError('FAILED_PRECONDITION', 'libvirt: operation failed');
  };
  const job = new MigrationJob('job-1', fileCommand(), () => Date.now(), 'preparing');
  await runHibernation(job, deps);
  assert.equal(job.phase, 'failed');
  assert.equal(job.snapshot().error?.step, 'save');
  assert.deepEqual(files.log, [`write ${DEFINITION}`, `remove ${STATE}`, `remove ${DEFINITION}`]);
});

test("restore: checks the saved state exists and the definition is Ferry's and names it, before libvirt is asked", async () => {
  const { hypervisor, files } = setup();
  const restored: string[] = [];
  hypervisor.restore = async (...args: unknown[]) => {
    const [path, xml] = args as [string, string];
    restored.push(`${path} ${xml}`);
    return { id: VM, name: 'vm' };
  };
  const deps = { hypervisor, hibernationFiles: files };
  const request = { path: STATE, dstparams: DEFINITION, paused: false };
  await assert.rejects(restoreHibernated(deps, request), (e) => isFerryError(e, 'NOT_FOUND') && (e as FerryError).details.field === 'path');
  files.files.set(STATE, 'state');
  await assert.rejects(
    restoreHibernated(deps, request),
    (e) => isFerryError(e, 'NOT_FOUND') && (e as FerryError).details.field === 'dstparams',
  );
  files.files.set(DEFINITION, 'not json');
  await assert.rejects(restoreHibernated(deps, request), (e) => isFerryError(e, 'INVALID_ARGUMENT') && /not JSON/.test(e.message));
  const definition = { format: 'ferry.hibernation/v1', vmId: VM, savedAt: '', statePath: '/srv/saves/other.save', domainXml: '<domain/>' };
  files.files.set(DEFINITION, JSON.stringify(definition));
  await assert.rejects(
    restoreHibernated(deps, request),
    (e) => isFerryError(e, 'INVALID_ARGUMENT') && /describes the saved state \/srv\/saves\/other.save/.test(e.message),
  );
  assert.deepEqual(restored, []);
  files.files.set(DEFINITION, JSON.stringify({ ...definition, statePath: STATE }));
  assert.deepEqual(await restoreHibernated(deps, request), { id: VM, name: 'vm' });
  assert.deepEqual(restored, [`${STATE} <domain/>`]);
});

test('LocalHibernationFiles: exists, canCreate, write (private, replaces), read, remove', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-hibernation-'));
  const files = new LocalHibernationFiles();
  const file = join(dir, 'vm.json');
  assert.equal(await files.exists(file), false);
  assert.equal(await files.canCreate(file), true);
  assert.equal(await files.canCreate(join(dir, 'missing', 'vm.json')), false);
  writeFileSync(join(dir, 'plain'), '');
  assert.equal(await files.canCreate(join(dir, 'plain', 'vm.json')), false, 'a file is no directory');
  await files.write(file, 'one');
  await files.write(file, 'two');
  assert.equal(readFileSync(file, 'utf8'), 'two');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(await files.read(file), 'two');
  assert.equal(await files.read(join(dir, 'none')), undefined);
  await files.remove(file);
  await files.remove(file);
  assert.equal(await files.exists(file), false);
});
