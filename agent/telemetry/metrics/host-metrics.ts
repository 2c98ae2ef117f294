/**
 * The host and the agent: libvirt's connection, the migration NIC, the
 * limits, jobs by phase (the queue's depth), incoming reservations and open
 * pinholes, all read at each scrape; and Node's process metrics from
 * prom-client (resident memory, event-loop delay percentiles, heap, file
 * descriptors), under their standard names.
 */
import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client';
import type { MigrationPhase } from '../../migration/index.js';

export interface HostReadings {
  libvirtConnected(): boolean;
  /** The migration NIC ("" when none is known) and its link state. */
  migrationNic(): { name: string; up: boolean };
  limits(): { maxOutgoing: number; maxIncoming: number };
  /** Outgoing jobs not finished, by phase. */
  activePhases(): MigrationPhase[];
  incomingReservations(): number;
  openPinholes(): number;
}

const ACTIVE_PHASES: readonly MigrationPhase[] = ['queued', 'preparing', 'migrating', 'postcopy', 'postcopy-paused', 'recovering'];

/** Event-loop delay percentiles are computed over this resolution (prom-client's default is 10 ms). */
const EVENT_LOOP_RESOLUTION_MS = 10;

export function registerHostMetrics(registry: Registry, read: HostReadings): void {
  const registers = [registry];
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_RESOLUTION_MS });
  // prom-client also names three gauges *_total (nodejs_active_handles_total…), which `promtool check metrics`
  // rejects (the suffix is for counters: Prometheus docs, "Metric and label naming"); the same counts stay,
  // by type, as nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
  for (const metric of registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    if (name.endsWith('_total') && type !== 'counter') registry.removeSingleMetric(name);
  }
  const libvirtUp: Gauge = new Gauge({
    name: 'ferry_host_libvirt_up',
    help: "1 when the agent's connection to libvirtd is up.",
    registers,
    collect: () => libvirtUp.set(read.libvirtConnected() ? 1 : 0),
  });
  const nicUp: Gauge<'nic'> = new Gauge({
    name: 'ferry_host_migration_nic_up',
    help: 'The migration NIC\'s link state (1 up); nic="" when no migration NIC is known.',
    labelNames: ['nic'],
    registers,
    collect: () => {
      const nic = read.migrationNic();
      nicUp.reset();
      nicUp.set({ nic: nic.name }, nic.up ? 1 : 0);
    },
  });
  const limit: Gauge<'direction'> = new Gauge({
    name: 'ferry_migration_limit',
    help: 'The migration limits in force (limits.max_outgoing, limits.max_incoming).',
    labelNames: ['direction'],
    registers,
    collect: () => {
      const { maxOutgoing, maxIncoming } = read.limits();
      limit.set({ direction: 'outgoing' }, maxOutgoing);
      limit.set({ direction: 'incoming' }, maxIncoming);
    },
  });
  const jobs: Gauge<'phase'> = new Gauge({
    name: 'ferry_migration_jobs',
    help: 'Outgoing jobs not finished, by phase (queued: the queue depth).',
    labelNames: ['phase'],
    registers,
    collect: () => {
      const phases = read.activePhases();
      for (const phase of ACTIVE_PHASES) jobs.set({ phase }, phases.filter((p) => p === phase).length);
    },
  });
  const incoming: Gauge = new Gauge({
    name: 'ferry_migration_incoming_reservations',
    help: 'Incoming migrations this host has prepared and not finished (what limits.max_incoming bounds).',
    registers,
    collect: () => incoming.set(read.incomingReservations()),
  });
  const pinholes: Gauge = new Gauge({
    name: 'ferry_pinholes_open',
    help: 'Pinholes open now on this host (destination side).',
    registers,
    collect: () => pinholes.set(read.openPinholes()),
  });
}
