/**
 * The host's load for GetStats. NIC rates are the byte deltas over the last
 * sampling interval; the agent samples in the background (start()) so that
 * the first GetStats already has a rate, and a GetStats that comes at least
 * MIN_WINDOW_MS after the previous sample closes a fresh interval.
 */
import type { AgentProcessFacts } from './agent-process.js';
import type { MigrationActivity } from './host-facts.js';
import type { NicCounters, SystemProbe } from './system-probe.js';

/** Shorter windows make rates jumpy (counters move in bursts). */
export const MIN_WINDOW_MS = 1000;

export interface NicStatsFacts {
  name: string;
  rxBytes: number;
  txBytes: number;
  rxBytesPerS: number;
  txBytesPerS: number;
}

/** The host's load, as the collector samples it. */
export interface HostLoadFacts {
  /** Epoch milliseconds of the sample. */
  time: number;
  cpuPercent: number;
  memoryTotalBytes: number;
  memoryUsedBytes: number;
  memoryAvailableBytes: number;
  nics: NicStatsFacts[];
  outgoingMigrations: number;
  incomingMigrations: number;
  queuedMigrations: number;
}

/** What GetStats answers: the host's load and the agent process itself. */
export interface HostStatsFacts extends HostLoadFacts {
  agent: AgentProcessFacts;
}

export interface Sample {
  at: number;
  counters: Map<string, NicCounters>;
}

export class HostStatsCollector {
  private previous: Sample | undefined;
  private rates = new Map<string, { rx: number; tx: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly system: SystemProbe,
    private readonly migrations: MigrationActivity,
    private readonly now: () => number = Date.now,
  ) {}

  /** Samples every intervalMs without keeping the process alive. */
  start(intervalMs = 5000): void {
    this.stop();
    void this.sampleNics().catch(() => undefined);
    this.timer = setInterval(() => void this.sampleNics().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async stats(): Promise<HostLoadFacts> {
    const [cpuPercent, memory, nics] = await Promise.all([this.system.cpuPercent(), this.system.memory(), this.sampleNics()]);
    const counts = this.migrations.counts();
    return {
      time: this.now(),
      cpuPercent,
      memoryTotalBytes: memory.totalBytes,
      memoryUsedBytes: memory.usedBytes,
      memoryAvailableBytes: memory.availableBytes,
      nics,
      outgoingMigrations: counts.outgoing,
      incomingMigrations: counts.incoming,
      queuedMigrations: counts.queued,
    };
  }

  /** Reads the counters; closes the interval when it is long enough. */
  private async sampleNics(): Promise<NicStatsFacts[]> {
    const counters = await this.system.nicCounters();
    const at = this.now();
    const current: Sample = { at, counters: new Map(counters.map((c) => [c.name, c])) };
    if (!this.previous) {
      this.previous = current;
    } else if (at - this.previous.at >= MIN_WINDOW_MS) {
      this.rates = ratesBetween(this.previous, current);
      this.previous = current;
    }
    return counters.map((c) => ({
      name: c.name,
      rxBytes: c.rxBytes,
      txBytes: c.txBytes,
      rxBytesPerS: this.rates.get(c.name)?.rx ?? 0,
      txBytesPerS: this.rates.get(c.name)?.tx ?? 0,
    }));
  }
}

/** Bytes per second per NIC; a counter that went backwards (NIC re-created) gives 0. */
export function ratesBetween(before: Sample, after: Sample): Map<string, { rx: number; tx: number }> {
  const seconds = (after.at - before.at) / 1000;
  const rates = new Map<string, { rx: number; tx: number }>();
  for (const [name, now] of after.counters) {
    const then = before.counters.get(name);
    if (!then || seconds <= 0) continue;
    const rate = (a: number, b: number) => (b >= a ? Math.round((b - a) / seconds) : 0);
    rates.set(name, { rx: rate(then.rxBytes, now.rxBytes), tx: rate(then.txBytes, now.txBytes) });
  }
  return rates;
}
