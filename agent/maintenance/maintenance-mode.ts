/**
 * The host's maintenance: EnterMaintenance, GetMaintenance, WatchMaintenance
 * and ExitMaintenance in the core's terms. From the moment a request is
 * accepted the host refuses incoming migrations (inMaintenance(), read by
 * PrepareIncoming and CheckIncoming); the VMs running or paused at that
 * moment are drained (drain.ts). The maintenance is journaled as one record,
 * durable before Enter and Exit answer and rewritten at every change: a
 * restarted agent is in maintenance again before it answers any call, and
 * resume() goes on with the drain once the outgoing jobs are recovered.
 */
import type { VmInfo } from '../migration/index.js';
import { Drain } from './drain.js';
import type { MaintenanceDeps, MaintenanceRecord } from './ports.js';
import { checkEnterRequest, fingerprintOf, maintenanceInProgress } from './request.js';
import {
  copyMaintenance,
  type EnterRequest,
  type Maintenance,
  type MaintenancePhase,
  type MaintenanceVm,
  NO_MAINTENANCE,
} from './types.js';

/** The journal's one record. */
const RECORD_ID = 'maintenance';

interface Active {
  request: EnterRequest;
  fingerprint: string;
  maintenance: Maintenance;
  drain: Drain;
}

export class MaintenanceMode {
  private active: Active | undefined;
  /** Enter and Exit one after another: each sees what the previous one left. */
  private serial: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(maintenance: Maintenance) => void>();
  /** Set by freeze() (graceful shutdown). */
  private frozen = false;

  /** Reads the journal at once: a maintenance a previous run left is in force before anything else is answered. */
  constructor(private readonly deps: MaintenanceDeps) {
    const [record] = (deps.journal?.load() ?? []).filter((r) => r.jobId === RECORD_ID && !r.finished);
    if (record && record.data.maintenance.phase !== 'off') this.activate(record.data.request, record.data.maintenance);
  }

  /** Every phase but off refuses incoming migrations. */
  inMaintenance(): boolean {
    return this.active !== undefined;
  }

  phase(): MaintenancePhase {
    return this.active?.maintenance.phase ?? 'off';
  }

  get(): Maintenance {
    return copyMaintenance(this.active?.maintenance ?? NO_MAINTENANCE);
  }

  enter(request: EnterRequest): Promise<Maintenance> {
    return this.serialized(() => this.enterNow(request));
  }

  exit(options: { cancelMigrations: boolean }): Promise<Maintenance> {
    return this.serialized(() => this.exitNow(options.cancelMigrations));
  }

  /** After a restart, once the outgoing jobs are recovered: the drain goes on with the VMs left. */
  resume(): void {
    const active = this.active;
    if (active?.maintenance.phase !== 'draining') return;
    this.deps.onEvent?.({ kind: 'resumed', maintenance: this.get() });
    this.run(active);
  }

  /**
   * WatchMaintenance: the maintenance now, then at every change, until the
   * drain has ended or maintenance is left (then `done` resolves).
   */
  watch(listener: (maintenance: Maintenance) => void): { done: Promise<void>; stop: () => void } {
    let stop = () => {};
    const done = new Promise<void>((resolve) => {
      const deliver = (maintenance: Maintenance) => {
        listener(maintenance);
        if (maintenance.phase !== 'draining') stop();
      };
      stop = () => {
        this.listeners.delete(deliver);
        resolve();
      };
      this.listeners.add(deliver);
      deliver(this.get());
    });
    return { done, stop };
  }

  /**
   * Graceful shutdown: the drain stops and nothing more is written, so that
   * migrations that end because the agent goes away are not recorded as
   * failed attempts; the next start goes on from the record as it is.
   */
  async freeze(): Promise<void> {
    this.frozen = true;
    this.active?.drain.stop();
    await this.serial;
  }

  /** Watches following the maintenance now (each stream that ended must have stopped its own). */
  watcherCount(): number {
    return this.listeners.size;
  }

  private async enterNow(request: EnterRequest): Promise<Maintenance> {
    const fingerprint = fingerprintOf(request);
    if (this.active) {
      if (this.active.fingerprint === fingerprint) return this.get();
      throw maintenanceInProgress(this.active.maintenance);
    }
    const { host, migrations, clock } = this.deps;
    await checkEnterRequest(request, host);
    await migrations.resolvePolicy(request.policy);
    const maintenance: Maintenance = {
      phase: 'draining',
      enteredAt: clock.now(),
      destinations: request.destinations.map((d) => ({ ...d })),
      migrationNetwork: request.migrationNetwork,
      policy: structuredClone(request.policy),
      maxParallel: request.maxParallel || host.maxOutgoing(),
      vms: [],
    };
    // Incoming migrations are refused from here on, before the VMs are even listed.
    const active = this.activate(request, maintenance);
    try {
      maintenance.vms = vmsToDrain(await host.listVms(), migrations.list(true));
    } catch (err) {
      this.active = undefined;
      throw err;
    }
    await this.persist(maintenance);
    this.deps.onEvent?.({ kind: 'entered', maintenance: this.get() });
    this.changed();
    this.run(active);
    return this.get();
  }

  private async exitNow(cancelMigrations: boolean): Promise<Maintenance> {
    const active = this.active;
    if (!active) return this.get();
    active.drain.stop();
    const jobs = cancelMigrations ? active.maintenance.vms.filter((v) => v.state === 'migrating' && v.jobId).map((v) => v.jobId) : [];
    const cancelled = await Promise.allSettled(jobs.map((jobId) => this.deps.migrations.cancel({ jobId })));
    const ended: Maintenance = { ...copyMaintenance(active.maintenance), phase: 'off' };
    this.active = undefined;
    await this.write(active.request, ended, true);
    this.deps.onEvent?.({ kind: 'exited', maintenance: ended, cancelled: cancelled.filter((c) => c.status === 'fulfilled').length });
    this.deps.onChange?.(ended);
    this.publish(ended);
    return copyMaintenance(ended);
  }

  private activate(request: EnterRequest, maintenance: Maintenance): Active {
    let active: Active | undefined;
    const drain = new Drain(maintenance, {
      ...this.deps,
      vmChanged: (vm) => {
        if (this.active !== active) return;
        this.deps.onEvent?.({ kind: 'vm', vm: structuredClone(vm) });
        void this.persist(maintenance);
        this.changed();
      },
      ended: () => {
        if (this.active !== active) return;
        this.deps.onEvent?.({ kind: 'drained', maintenance: this.get() });
        void this.persist(maintenance);
        this.changed();
      },
    });
    active = { request, fingerprint: fingerprintOf(request), maintenance, drain };
    this.active = active;
    return active;
  }

  private run(active: Active): void {
    active.drain.run().catch((err: unknown) => this.deps.onError?.(err));
  }

  private changed(): void {
    const now = this.get();
    this.deps.onChange?.(now);
    this.publish(now);
  }

  private publish(maintenance: Maintenance): void {
    for (const deliver of [...this.listeners]) deliver(copyMaintenance(maintenance));
  }

  private persist(maintenance: Maintenance): Promise<void> {
    const active = this.active;
    if (active?.maintenance !== maintenance) return Promise.resolve();
    return this.write(active.request, maintenance, false);
  }

  /** A failed write is reported, not thrown: the maintenance goes on (as a job does when its record cannot be written). */
  private async write(request: EnterRequest, maintenance: Maintenance, finished: boolean): Promise<void> {
    if (this.frozen) return;
    const record: MaintenanceRecord = { request, maintenance: copyMaintenance(maintenance) };
    await this.deps.journal?.write(RECORD_ID, finished, record).catch((err: unknown) => this.deps.onError?.(err));
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.serial.then(fn, fn);
    this.serial = next.catch(() => undefined);
    return next;
  }
}

/** The VMs running or paused now, sorted by name; one whose job runs already is followed as MIGRATING. */
function vmsToDrain(vms: readonly VmInfo[], jobs: ReadonlyArray<{ vmId: string; jobId: string; dst: string }>): MaintenanceVm[] {
  return vms
    .filter((vm) => vm.state === 'running' || vm.state === 'paused')
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
    .map((vm) => {
      const job = jobs.find((j) => j.vmId === vm.id);
      return {
        vmId: vm.id,
        name: vm.name,
        state: job ? 'migrating' : 'pending',
        destination: job?.dst ?? '',
        jobId: job?.jobId ?? '',
        attempts: [],
        memoryBytes: vm.memoryBytes,
      };
    });
}
