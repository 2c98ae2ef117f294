/**
 * One VM of a drain, from PENDING to where it ends: a job already running
 * for it is followed (never doubled); otherwise the destinations it has not
 * tried are asked one after another, the most free memory first, and the
 * first whose checks pass takes it. The checks are CheckMigration's, run by
 * Migrate itself before it creates a job (its refusal carries every blocking
 * finding, outgoing/migration-check.ts): one round of checks per
 * destination, and none between a check and the job it allowed. A
 * destination that cannot be reached is a blocking finding, as
 * CheckMigration reports it, and goes last for the VMs after. A migration
 * that fails sends the VM on to the destinations left; when none is left it
 * is FAILED (an error on the way) or UNMOVABLE (only checks blocked). A VM
 * that stopped or left this host by other means is GONE. The destination
 * being asked holds the VM's memory in the ledger at once, so that the other
 * lanes, choosing at the same moment, see it taken.
 */
import { type FerryError, errorMessage, isFerryError } from '../../shared/errors.js';
import {
  CHECK_REASONS,
  type CheckReason,
  type Finding,
  type MigrateRequest,
  type MigrationFailure,
  type MigrationStatus,
  type TraceContext,
} from '../migration/index.js';
import type { DestinationLedger } from './destination-ledger.js';
import type { DrainHost, DrainMigrations } from './ports.js';
import { agentKey } from './request.js';
import type { Maintenance, MaintenanceAttempt, MaintenanceDestination, MaintenanceVm, MaintenanceVmState } from './types.js';

export interface MoveContext {
  migrations: DrainMigrations;
  host: DrainHost;
  ledger: DestinationLedger;
  maintenance: Pick<Maintenance, 'destinations' | 'migrationNetwork' | 'policy'>;
  /** The drain's span: each Migrate is its child. */
  trace: TraceContext;
  /** ExitMaintenance: start nothing more, record nothing more. */
  stopped(): boolean;
  /** The VM's record changed (publish it, journal it). */
  changed(vm: MaintenanceVm): void;
  /** The job's final status; undefined when the job is not known here, or the drain stopped meanwhile. */
  follow(jobId: string): Promise<MigrationStatus | undefined>;
  /** Waits before looking again (another caller's Migrate of the VM is still being accepted). */
  pause(ms: number): Promise<void>;
}

/** How long a VM whose Migrate another caller is making waits before looking for that job again. */
const BUSY_PAUSE_MS = 1000;

export async function moveVm(vm: MaintenanceVm, ctx: MoveContext): Promise<void> {
  const tried = new Set(vm.attempts.map((a) => agentKey(a.destination)));
  let committed = false;
  for (;;) {
    if (ctx.stopped()) return;
    const jobId = vm.state === 'migrating' && vm.jobId ? vm.jobId : ctx.migrations.list(true).find((s) => s.vmId === vm.vmId)?.jobId;
    if (jobId) {
      const ended = await followJob(vm, jobId, ctx, tried, committed);
      committed = false;
      if (ended === 'done') return;
      continue;
    }
    if (await isGone(vm, ctx.host)) return settle(vm, 'gone', ctx);
    const next = await startOnNext(vm, ctx, tried);
    if (next === 'gone') return settle(vm, 'gone', ctx);
    if (next === 'stopped') return;
    if (next === 'none') return settle(vm, vm.attempts.some((a) => a.error) ? 'failed' : 'unmovable', ctx);
    if (next === 'busy') {
      await ctx.pause(BUSY_PAUSE_MS);
      continue;
    }
    vm.state = 'migrating';
    vm.jobId = next.jobId;
    vm.destination = next.destination;
    committed = true;
    ctx.changed(vm);
  }
}

type Started = { jobId: string; destination: string } | 'none' | 'gone' | 'stopped' | 'busy';

async function startOnNext(vm: MaintenanceVm, ctx: MoveContext, tried: Set<string>): Promise<Started> {
  for (;;) {
    const [next] = ctx.ledger.order(ctx.maintenance.destinations.filter((d) => !tried.has(agentKey(d.host))));
    if (!next) return 'none';
    if (ctx.stopped()) return 'stopped';
    tried.add(agentKey(next.host));
    ctx.ledger.commit(next.host, vm.memoryBytes);
    const request = { ...requestFor(vm, next, ctx.maintenance), ...(ctx.trace.traceparent ? { trace: ctx.trace } : {}) };
    try {
      const accepted = await ctx.migrations.migrate(request);
      return { jobId: accepted.jobId, destination: next.host };
    } catch (err) {
      ctx.ledger.release(next.host, vm.memoryBytes);
      if (vmGone(err)) return 'gone';
      // Someone else's Migrate got there first: its job is followed instead.
      if (isFerryError(err) && err.reason === 'ALREADY_MIGRATING') {
        tried.delete(agentKey(next.host));
        return 'busy';
      }
      const attempt = attemptOf(next.host, err);
      if (attempt.blocking.some((f) => f.side === 'source' && (f.reason === 'VM_NOT_FOUND' || f.reason === 'VM_NOT_RUNNING')))
        return 'gone';
      if (attempt.blocking.some((f) => f.reason === 'DESTINATION_UNREACHABLE')) ctx.ledger.demote(next.host);
      if (ctx.stopped()) return 'stopped';
      vm.attempts.push(attempt);
      ctx.changed(vm);
    }
  }
}

/** Follows the job to its end: 'done' when the VM migrated (or the drain stopped), 'again' when it is still here to move. */
async function followJob(
  vm: MaintenanceVm,
  jobId: string,
  ctx: MoveContext,
  tried: Set<string>,
  committed: boolean,
): Promise<'done' | 'again'> {
  let dst = vm.destination;
  try {
    dst = ctx.migrations.status({ jobId }).dst;
  } catch (err) {
    if (!isFerryError(err, 'NOT_FOUND')) throw err;
  }
  if (vm.state !== 'migrating' || vm.jobId !== jobId) {
    vm.state = 'migrating';
    vm.jobId = jobId;
    vm.destination = dst;
    ctx.changed(vm);
  }
  if (!committed) ctx.ledger.commit(dst, vm.memoryBytes);
  const end = await ctx.follow(jobId);
  if (ctx.stopped()) return 'done';
  if (end?.phase === 'completed') {
    vm.state = 'migrated';
    vm.destination = end.dst;
    ctx.changed(vm);
    return 'done';
  }
  ctx.ledger.release(dst, vm.memoryBytes);
  // A job no longer known (its record lost with a restart) is no attempt: the VM is looked at again.
  if (end) {
    tried.add(agentKey(dst));
    vm.attempts.push({
      destination: dst,
      blocking: [],
      jobId,
      error: end.error ?? { step: '', message: `the migration ended ${end.phase.toUpperCase()}`, kind: 'ABORTED' },
    });
  }
  vm.state = 'pending';
  vm.jobId = '';
  vm.destination = '';
  ctx.changed(vm);
  return 'again';
}

function settle(vm: MaintenanceVm, state: MaintenanceVmState, ctx: MoveContext): void {
  if (ctx.stopped()) return;
  vm.state = state;
  vm.jobId = '';
  vm.destination = '';
  ctx.changed(vm);
}

/** Stopped, crashed or no longer here: nothing left to move. */
async function isGone(vm: MaintenanceVm, host: DrainHost): Promise<boolean> {
  try {
    const now = await host.describeVm(vm.vmId);
    return now.state !== 'running' && now.state !== 'paused';
  } catch (err) {
    return isFerryError(err, 'NOT_FOUND');
  }
}

export function requestFor(
  vm: Pick<MaintenanceVm, 'vmId'>,
  d: MaintenanceDestination,
  m: Pick<Maintenance, 'migrationNetwork' | 'policy'>,
): MigrateRequest {
  return {
    vmId: vm.vmId,
    mode: 'remote',
    dst: d.host,
    dstparams: '',
    keepSource: false,
    dstqemu: d.dstqemu,
    // A destination's own dstqemu wins over the drain's migration network (Migrate takes one or the other).
    migrationNetwork: d.dstqemu ? '' : m.migrationNetwork,
    overwrite: false,
    policy: m.policy,
  };
}

/** The VM is not here (NOT_FOUND), or no longer runs: nothing to move. */
function vmGone(err: unknown): boolean {
  return isFerryError(err) && (err.reason === 'VM_NOT_FOUND' || err.reason === 'VM_NOT_RUNNING');
}

/**
 * A Migrate that did not start a job: its up-front refusal keeps its
 * findings (a VM the source itself blocks, e.g. VM_BUSY, blocks on every
 * destination alike); a destination that does not answer is the finding
 * CheckMigration would have reported; anything else is an error.
 */
function attemptOf(destination: string, err: unknown): MaintenanceAttempt {
  if (isFerryError(err) && err.reason === 'MIGRATION_CHECK_FAILED' && err.details.violations?.length) {
    return { destination, blocking: findingsOf(err), jobId: '' };
  }
  if (isFerryError(err) && (err.reason === 'DESTINATION_UNREACHABLE' || err.reason === 'DESTINATION_TIMEOUT')) {
    const finding: Finding = {
      reason: 'DESTINATION_UNREACHABLE',
      side: 'destination',
      message: `${err.message}: check dst and that ferryd runs there`,
    };
    return { destination, blocking: [finding], jobId: '' };
  }
  const error: MigrationFailure = isFerryError(err)
    ? { step: err.details.step ?? 'migrate', message: err.message, kind: err.kind }
    : { step: 'migrate', message: errorMessage(err), kind: 'INTERNAL' };
  return { destination, blocking: [], jobId: '', error };
}

function findingsOf(err: FerryError): Finding[] {
  return (err.details.violations ?? []).map((v) => {
    const name = v.type.replace(/^MIGRATION_CHECK_REASON_/, '');
    const reason: CheckReason = (CHECK_REASONS as readonly string[]).includes(name) ? (name as CheckReason) : 'CHECK_INCOMPLETE';
    return { reason, side: v.subject === 'source' ? 'source' : 'destination', message: v.description };
  });
}
