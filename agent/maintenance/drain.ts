/**
 * A drain: the VMs of a maintenance moved in max_parallel lanes. A VM holds
 * a lane from the moment it is picked until its migration has ended (its
 * checks included, so that two lanes never pick for the same free memory);
 * jobs already running at the start hold lanes too, even beyond
 * max_parallel (they run anyway). Pending VMs go largest first, as the
 * hardest to place, and then by name. When no VM is left to pick and no lane
 * is busy, the drain has ended: DRAINED when every VM left (or is gone),
 * INCOMPLETE otherwise.
 */
import { isFerryError } from '../../shared/errors.js';
import {
  type Clock,
  type MigrationPhase,
  type MigrationStatus,
  noopSpan,
  noopTracer,
  type Tracer,
  type TraceSpan,
} from '../migration/index.js';
import { DestinationLedger } from './destination-ledger.js';
import type { DestinationMemory, DrainHost, DrainMigrations } from './ports.js';
import type { Maintenance, MaintenanceVm } from './types.js';
import { moveVm } from './vm-mover.js';

export interface DrainDeps {
  migrations: DrainMigrations;
  host: DrainHost;
  memory: DestinationMemory;
  clock: Clock;
  /** A VM's record changed. */
  vmChanged(vm: MaintenanceVm): void;
  /** The drain ended (the maintenance's phase is drained or incomplete now). */
  ended(): void;
  tracer?: Tracer;
}

/** How long the destinations' free memory is waited for before the drain starts without the silent ones' (they rank last). */
const MEASURE_WAIT_MS = 5000;

const ENDED: ReadonlySet<MigrationPhase> = new Set(['completed', 'failed', 'cancelled']);

export class Drain {
  private stopped = false;
  private inFlight = 0;
  private readonly queue: MaintenanceVm[] = [];
  /** Stops of the job watches running now (ExitMaintenance ends them). */
  private readonly watches = new Set<() => void>();
  private readonly ledger: DestinationLedger;
  /** From run() to the drain's end or stop: its migrations' traces continue it. */
  private span: TraceSpan = noopSpan;

  /** maintenance: mutated in place as VMs move (the owner journals and publishes it). */
  constructor(
    private readonly maintenance: Maintenance,
    private readonly deps: DrainDeps,
  ) {
    this.ledger = new DestinationLedger(maintenance.destinations);
  }

  /** Starts, or after a restart goes on: running jobs are followed, pending VMs picked. */
  async run(): Promise<void> {
    const { clock, memory } = this.deps;
    if (this.stopped) return;
    this.span = (this.deps.tracer ?? noopTracer).startSpan('maintenance drain', {
      attributes: { 'ferry.maintenance.vms': this.maintenance.vms.length, 'ferry.maintenance.max_parallel': this.maintenance.maxParallel },
    });
    const abort = new AbortController();
    await Promise.race([this.ledger.measure(memory), clock.sleep(MEASURE_WAIT_MS, abort.signal)]);
    abort.abort();
    if (this.stopped) return;
    const { vms } = this.maintenance;
    for (const vm of vms.filter((v) => v.state === 'migrating')) this.launch(vm);
    this.queue.push(
      ...vms.filter((v) => v.state === 'pending').sort((a, b) => b.memoryBytes - a.memoryBytes || a.name.localeCompare(b.name)),
    );
    this.pump();
    this.finishIfDone();
  }

  /** ExitMaintenance: nothing more starts or is recorded; running jobs go on (or are cancelled by the caller). */
  stop(): void {
    this.stopped = true;
    this.span.setAttribute('ferry.maintenance.phase', 'STOPPED');
    this.span.end();
    for (const stop of this.watches) stop();
    this.watches.clear();
  }

  private pump(): void {
    while (!this.stopped && this.inFlight < this.maintenance.maxParallel) {
      const vm = this.queue.shift();
      if (!vm) return;
      this.launch(vm);
    }
  }

  private launch(vm: MaintenanceVm): void {
    this.inFlight++;
    void moveVm(vm, {
      migrations: this.deps.migrations,
      host: this.deps.host,
      ledger: this.ledger,
      maintenance: this.maintenance,
      trace: this.span.context,
      stopped: () => this.stopped,
      changed: (changed) => this.deps.vmChanged(changed),
      follow: (jobId) => this.follow(jobId),
      pause: (ms) => this.deps.clock.sleep(ms),
    })
      .catch((err: unknown) => {
        // A fault of the agent itself (not of a destination): the VM stays here, and says why.
        if (this.stopped) return;
        vm.attempts.push({
          destination: vm.destination,
          blocking: [],
          jobId: vm.jobId,
          error: { step: 'drain', message: err instanceof Error ? err.message : String(err), kind: 'INTERNAL' },
        });
        vm.state = 'failed';
        vm.jobId = '';
        vm.destination = '';
        this.deps.vmChanged(vm);
      })
      .finally(() => {
        this.inFlight--;
        this.pump();
        this.finishIfDone();
      });
  }

  private finishIfDone(): void {
    if (this.stopped || this.inFlight > 0 || this.queue.length > 0 || this.maintenance.phase !== 'draining') return;
    const left = this.maintenance.vms.every((v) => v.state === 'migrated' || v.state === 'gone');
    this.maintenance.phase = left ? 'drained' : 'incomplete';
    this.maintenance.drainedAt = this.deps.clock.now();
    this.span.setAttribute('ferry.maintenance.phase', this.maintenance.phase.toUpperCase());
    this.span.end();
    this.deps.ended();
  }

  /** The job's final status; undefined when it is not known here or the drain stopped first. */
  private async follow(jobId: string): Promise<MigrationStatus | undefined> {
    let last: MigrationStatus | undefined;
    let watch: { done: Promise<void>; stop: () => void };
    try {
      watch = this.deps.migrations.watch({ jobId }, (status) => {
        last = status;
      });
    } catch (err) {
      if (isFerryError(err, 'NOT_FOUND')) return undefined;
      throw err;
    }
    this.watches.add(watch.stop);
    try {
      await watch.done;
    } finally {
      this.watches.delete(watch.stop);
    }
    return !this.stopped && last && ENDED.has(last.phase) ? last : undefined;
  }
}
