/**
 * Mode FILE (hibernation) and its counterpart Restore. The saved-state file
 * is libvirt's; the definition file (dstparams) is Ferry's: the domain XML
 * plus enough metadata to check, at restore time, that the two files belong
 * together. A failed save leaves the VM running and removes partial files.
 */
import path from 'node:path';
import { FerryError, invalidArgument, isFerryError } from '../../../shared/errors.js';
import { failureOf } from '../jobs/failure.js';
import type { MigrationJob } from '../jobs/migration-job.js';
import { startMonitor } from '../convergence/monitor.js';
import { vmWhenHypervisorAnswers } from './live-migration.js';
import type { Clock, HibernationFiles, Hypervisor } from '../ports.js';
import type { MigrateCommand, RestoreRequest, VmOnSource } from '../types.js';
import { DEFINITION_FORMAT, parseDefinition, type DefinitionFile } from '../hibernation-definition.js';

/**
 * Refuses targets that would lose data or cannot be written; nothing is
 * touched. The paths are absolute (agent/rpc checks that, once).
 */
export async function checkHibernationTargets(command: MigrateCommand, files: HibernationFiles): Promise<void> {
  for (const [field, file] of [
    ['dst', command.dst],
    ['dstparams', command.dstparams],
  ] as const) {
    if (!command.overwrite && (await files.exists(file))) {
      throw new FerryError('ALREADY_EXISTS', `${field}: ${file} already exists: choose another path or set overwrite`, {
        field,
        reason: 'FILE_EXISTS',
      });
    }
    if (!(await files.canCreate(file))) {
      throw new FerryError(
        'FAILED_PRECONDITION',
        `${field}: directory ${path.dirname(file)} does not exist or is not writable by the agent`,
        { field, reason: 'STORAGE_FAILED' },
      );
    }
  }
  if (path.resolve(command.dst) === path.resolve(command.dstparams)) {
    throw invalidArgument('dstparams', 'must differ from dst (the saved-state file)');
  }
}

export async function runHibernation(
  job: MigrationJob,
  deps: { hypervisor: Hypervisor; hibernationFiles: HibernationFiles; clock: Clock; answerWaitMs: number; pollIntervalMs: number },
): Promise<void> {
  const { vmId, dst, dstparams } = job.command;
  let step = 'save';
  try {
    job.setPhase('preparing');
    const domainXml = await deps.hypervisor.definition(vmId);
    const definition: DefinitionFile = {
      format: DEFINITION_FORMAT,
      vmId,
      savedAt: new Date(deps.clock.now()).toISOString(),
      statePath: dst,
      domainXml,
    };
    // The definition first: libvirt finishes a save even if the agent dies
    // meanwhile, and the saved state must then not lack its definition.
    step = 'write definition';
    await deps.hibernationFiles.write(dstparams, JSON.stringify(definition, null, 2));
    step = 'save';
    job.setPhase('migrating');
    const monitor = startMonitor(job, deps.hypervisor, deps);
    try {
      await deps.hypervisor.save(vmId, dst);
    } finally {
      await monitor.stop();
    }
    const final = await deps.hypervisor.completedJobStats(vmId).catch(() => undefined);
    if (final) job.applyFinalStats(final);
    job.setPhase('completed');
  } catch (err) {
    // A save whose connection to libvirtd dropped (a daemon restart) may have
    // finished: libvirt tells once it answers again, and a VM that stopped
    // means the state file is whole — removing it would lose the VM.
    const vm = await vmWhenHypervisorAnswers(job, deps);
    if (step === 'save' && isFerryError(err, 'UNAVAILABLE') && (vm === 'gone' || vm?.state === 'shutoff')) {
      job.warn('the connection to libvirtd was lost before it answered, and the VM has stopped: the save completed');
      job.setPhase('completed');
      return;
    }
    // libvirt removes its own partial file on failure; make sure of it, and
    // never leave a definition that points at nothing — but only while the
    // VM is known to be still here.
    const stillHere = vm !== undefined && vm !== 'gone' && (vm.state === 'running' || vm.state === 'paused');
    if (stillHere || step !== 'save') await removeHibernationFiles(job.command, step === 'save', deps.hibernationFiles);
    else job.warn(`${dst} and ${dstparams} were left in place: the VM is not running here, so they may hold its only state`);
    const vmState: VmOnSource =
      vm === undefined
        ? { state: 'unknown', reason: 'libvirt did not answer' }
        : vm === 'gone'
          ? { state: 'absent', reason: '' }
          : { state: vm.state, reason: '' };
    job.fail(failureOf(step, err, vmState));
  }
}

/** A hibernation that failed leaves no files: libvirt's partial state (when the save ran) and our definition. */
export async function removeHibernationFiles(command: MigrateCommand, stateToo: boolean, files: HibernationFiles): Promise<void> {
  if (stateToo) await files.remove(command.dst).catch(() => undefined);
  await files.remove(command.dstparams).catch(() => undefined);
}

export async function restoreHibernated(
  deps: { hypervisor: Hypervisor; hibernationFiles: HibernationFiles },
  request: RestoreRequest,
): Promise<{ id: string; name: string }> {
  const files = deps.hibernationFiles;
  if (!(await files.exists(request.path)))
    throw new FerryError('NOT_FOUND', `path: no saved-state file at ${request.path}`, { field: 'path', reason: 'FILE_NOT_FOUND' });
  const text = await files.read(request.dstparams);
  if (text === undefined)
    throw new FerryError('NOT_FOUND', `dstparams: no definition file at ${request.dstparams}`, {
      field: 'dstparams',
      reason: 'FILE_NOT_FOUND',
    });
  const definition = parseDefinition(text, request.dstparams);
  if (path.resolve(definition.statePath) !== path.resolve(request.path)) {
    throw invalidArgument('dstparams', `${request.dstparams} describes the saved state ${definition.statePath}, not ${request.path}`);
  }
  const relocated = definition.relocatedFrom !== undefined;
  return deps.hypervisor.restore(request.path, definition.domainXml, request.paused, relocated ? { relocated } : {});
}
