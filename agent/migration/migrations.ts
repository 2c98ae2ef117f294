/**
 * The migration core's front door: what the Migration gRPC service calls.
 * It checks what only the host can check (the VM exists and runs, no other
 * job holds it), creates the job, queues it under the outgoing limit, and
 * runs it in the background; status, watch, cancel and change act on jobs.
 */
import { randomUUID } from 'node:crypto';
import { FerryError } from '../../shared/errors.js';
import { withDeadline } from './deadline.js';
import { checkHibernationTargets, runHibernation } from './hibernation.js';
import { JobRegistry, type JobSelector } from './job-registry.js';
import { MigrationJob } from './migration-job.js';
import { runOutgoingMigration, type OutgoingDeps } from './outgoing.js';
import { SlotQueue } from './slot-queue.js';
import type { MigrateCommand, MigrationStatus } from './types.js';

export interface MigrationsOptions extends OutgoingDeps {
  maxOutgoing: () => number;
  retentionMs: number;
  /** Called at every job transition (the log, the journal). */
  onTransition?: (status: MigrationStatus) => void;
}

export interface ParamsChange {
  maxBandwidthMibps?: number;
  maxDowntimeMs?: number;
  startPostCopy: boolean;
}

export class Migrations {
  private readonly registry: JobRegistry;
  private readonly slots: SlotQueue;

  constructor(private readonly deps: MigrationsOptions) {
    this.registry = new JobRegistry(deps.retentionMs, () => deps.clock.now());
    this.slots = new SlotQueue(deps.maxOutgoing);
  }

  /** Accepts a job after the host-side checks; the job runs in the background. */
  async migrate(command: MigrateCommand): Promise<MigrationStatus> {
    const { hypervisor, callTimeoutMs } = this.deps;
    const vm = await withDeadline(hypervisor.describeVm(command.vmId), callTimeoutMs, 'libvirt (look up VM)');
    if (vm.state !== 'running' && vm.state !== 'paused') {
      throw new FerryError('FAILED_PRECONDITION', `VM ${command.vmId} (${vm.name}) is ${vm.state}, not running: start it first`, { field: 'vm_id' });
    }
    const active = this.registry.activeFor(command.vmId);
    if (active) {
      throw new FerryError('ALREADY_EXISTS', `VM ${command.vmId} already has migration job ${active.id} (${active.phase})`, { field: 'vm_id' });
    }
    if (command.mode === 'file') await checkHibernationTargets(command);

    const queued = !this.slots.hasFree();
    const job = new MigrationJob(randomUUID(), command, () => this.deps.clock.now(), queued ? 'queued' : 'preparing');
    const notify = this.deps.onTransition;
    if (notify) {
      let lastPhase = job.phase;
      notify(job.snapshot());
      job.subscribe((status) => {
        if (status.phase === lastPhase) return;
        lastPhase = status.phase;
        notify(status);
      });
    }
    this.registry.add(job);
    void this.run(job);
    return job.snapshot();
  }

  status(selector: JobSelector): MigrationStatus {
    return this.registry.get(selector).snapshot();
  }

  list(activeOnly: boolean): MigrationStatus[] {
    return this.registry.list(activeOnly).map((j) => j.snapshot());
  }

  /** Counts for host stats. */
  counts(): { running: number; queued: number } {
    const active = this.registry.list(true);
    const queued = active.filter((j) => j.phase === 'queued').length;
    return { running: active.length - queued, queued };
  }

  /**
   * Follows a job: the listener gets the current status at once, then every
   * change; `done` resolves after the final phase was delivered.
   */
  watch(selector: JobSelector, listener: (status: MigrationStatus) => void): { done: Promise<void>; stop: () => void } {
    const job = this.registry.get(selector);
    let stop = () => {};
    const done = new Promise<void>((resolve) => {
      const deliver = (status: MigrationStatus) => {
        listener(status);
        if (job.finished) {
          stop();
          resolve();
        }
      };
      const unsubscribe = job.subscribe(deliver);
      stop = () => {
        unsubscribe();
        resolve();
      };
      deliver(job.snapshot());
    });
    return { done, stop };
  }

  async cancel(selector: JobSelector): Promise<MigrationStatus> {
    const job = this.registry.get(selector);
    if (job.finished) {
      throw new FerryError('FAILED_PRECONDITION', `job ${job.id} already ended ${job.phase}: nothing to cancel`);
    }
    if (job.phase === 'postcopy') {
      throw new FerryError('FAILED_PRECONDITION', `job ${job.id} is in post-copy: the VM already runs on the destination and cannot be cancelled`);
    }
    job.cancellation.abort();
    if (job.phase === 'queued') {
      job.fail({ step: 'queue', kind: 'CANCELLED', message: 'cancelled while queued', vmState: 'running on source' });
    } else if (job.phase === 'migrating') {
      await withDeadline(this.deps.hypervisor.abortJob(job.command.vmId, { postcopy: false }), this.deps.callTimeoutMs, 'libvirt (abort job)');
    }
    // The runner notices the abort (perform rejects, or the check after
    // prepare) and ends the job CANCELLED once the VM is safe on the source.
    await this.watch({ jobId: job.id }, () => {}).done;
    return job.snapshot();
  }

  async changeParams(selector: JobSelector, change: ParamsChange): Promise<MigrationStatus> {
    const job = this.registry.get(selector);
    if (job.phase !== 'migrating' && job.phase !== 'postcopy') {
      throw new FerryError('FAILED_PRECONDITION', `job ${job.id} is ${job.phase}: parameters change only while it is migrating`);
    }
    const { hypervisor, callTimeoutMs } = this.deps;
    const vmId = job.command.vmId;
    if (change.startPostCopy && !job.command.policy.postCopy) {
      throw new FerryError('FAILED_PRECONDITION', `job ${job.id} was started without post_copy in its policy: post-copy cannot be switched on later`, { field: 'start_post_copy' });
    }
    if (change.maxBandwidthMibps !== undefined) {
      await withDeadline(hypervisor.setMaxSpeed(vmId, change.maxBandwidthMibps), callTimeoutMs, 'libvirt (set max speed)');
    }
    if (change.maxDowntimeMs !== undefined) {
      await withDeadline(hypervisor.setMaxDowntime(vmId, change.maxDowntimeMs), callTimeoutMs, 'libvirt (set max downtime)');
      job.update({ maxDowntimeMs: change.maxDowntimeMs });
    }
    if (change.startPostCopy && job.phase === 'migrating') {
      await withDeadline(hypervisor.startPostCopy(vmId), callTimeoutMs, 'libvirt (start post-copy)');
      job.setPhase('postcopy');
    }
    return job.snapshot();
  }

  private async run(job: MigrationJob): Promise<void> {
    const release = await this.slots.acquire(job.cancellation.signal);
    if (!release) return; // cancelled while queued
    try {
      if (job.command.mode === 'file') await runHibernation(job, this.deps);
      else await runOutgoingMigration(job, this.deps);
    } finally {
      release();
    }
  }
}
