/**
 * From what the user typed to what the contract takes: a VM name becomes its
 * UUID through the agent's own VM list (HostService.ListVms), and a job
 * target becomes a JobSelector. A name that matches no VM, or several, is
 * said plainly, with the UUIDs to choose from.
 */
import { unary } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import type { JobSelector } from '../../shared/generated/ferry/v1/JobSelector.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import type { Agent } from './agent.js';
import { operationFailed } from './exit.js';
import { closest } from './suggest.js';
import type { JobTarget, VmRef } from './values.js';

/** The VM's UUID: given, or looked up by name on the agent. */
export async function resolveVm(agent: Agent, ref: VmRef): Promise<string> {
  if ('uuid' in ref) return ref.uuid;
  const { vms } = await unary(agent.clients.host, 'ListVms', {}, agent.callOptions);
  const matches = vms.filter((vm) => vm.name === ref.name);
  const [only] = matches;
  if (only && matches.length === 1) return only.id;
  if (matches.length > 1) {
    throw operationFailed(
      `the name "${ref.name}" is ambiguous on ${agent.from}: ${matches.length} VMs have it (${matches.map((vm) => vm.id).join(', ')}) — give the UUID`,
    );
  }
  const guess = closest(
    ref.name,
    vms.map((vm) => vm.name),
  );
  throw operationFailed(
    `no VM named "${ref.name}" on ${agent.from}${guess ? ` (did you mean ${guess}?)` : ''} — ferryctl host vms --from ${agent.from} lists them`,
  );
}

/**
 * Calls `call` with the job the target names. A bare UUID is tried as a job
 * id first and, when no job has it, as a VM (its current or latest job).
 */
export async function onJob<T>(agent: Agent, target: JobTarget, call: (job: JobSelector) => Promise<T>): Promise<T> {
  if ('jobId' in target) return call({ jobId: target.jobId });
  if ('vm' in target) return call({ vmId: await resolveVm(agent, target.vm) });
  try {
    return await call({ jobId: target.jobOrVm });
  } catch (err) {
    if (isFerryError(err, 'NOT_FOUND') && err.reason === 'JOB_NOT_FOUND') return call({ vmId: target.jobOrVm });
    throw err;
  }
}

/** A reply that carries the job's state (GetMigrationStatus, CancelMigration, ChangeMigrationParams). */
export interface StatusReply {
  status: MigrationProgress__Output | null;
}

/** onJob for a call answering the job's state; a reply without it is the agent's failure. */
export async function jobReply<R extends StatusReply>(
  agent: Agent,
  target: JobTarget,
  rpc: string,
  call: (job: JobSelector) => Promise<R>,
): Promise<R & { status: MigrationProgress__Output }> {
  const reply = await onJob(agent, target, call);
  const { status } = reply;
  if (!status) throw operationFailed(`the agent answered ${rpc} without the job's state`);
  return { ...reply, status };
}
