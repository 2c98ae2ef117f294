// What watching ferryd costs: migration wall time (Migrate → COMPLETED seen
// by the client) and the agents' event-loop delay p99, with metrics and
// tracing off and on. "on" scrapes both agents' /metrics every second, far
// more often than a Prometheus would (15 s by default), and has them export
// every span (OTLP/HTTP to a receiver in this process, sampler always on), so
// the cost shows if there is one. Configurations alternate in blocks, each block restarting lab1's and
// lab2's ferryd with its environment (restartFerrydWith, the lab's
// ferryd.env); a block migrates a disk-less guest lab1 ⇄ lab2 for BLOCK_S
// seconds. The event-loop p99 is GetStats' (ferryd's 10 s windows), read at
// each window's end on both hosts; its median and max per configuration.
//
//   node dist/test/bench/observability-overhead.js [BLOCKS] [BLOCK_S]
//
// Prints a table and, last, a JSON summary line (read by scripts/bench).
import { unary } from '../../shared/client.js';
import { msFromProtoTime } from '../../shared/proto-time.js';
import { createVm, destroyVm, ensureLab, labHost, readLabState } from '../support/lab.js';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.js';
import { agent, closeAgents, restartFerrydWith, scrapeMetrics, watchToEnd } from '../support/ferry.js';
import { median, printSummary, round, runBenchmark, spread, table } from './bench-support.js';

const BLOCKS = Number(process.argv[2] ?? 3);
const BLOCK_S = Number(process.argv[3] ?? 40);
const VM = 'bench-observability';
const HOSTS = ['lab1', 'lab2'] as const;
/** GetStats reports the last complete window of this length (agent/host/agent-process.ts). */
const STATS_WINDOW_MS = 10_000;

interface Configuration {
  name: 'off' | 'on';
  /** The ferryds' extra environment (FERRY_… overrides, OTEL_*…). */
  env: Record<string, string>;
  /** Scrape /metrics while migrating. */
  scrape: boolean;
}

/**
 * The environment of the "on" run: metrics on (the lab's default) and every
 * span exported to the receiver (docs/operations.md, "Tracing"), so "on"
 * measures everything that watches the agent at once.
 */
export function observabilityOnEnv(receiver: OtlpReceiver): Record<string, string> {
  return {
    FERRY_METRICS_ENABLED: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_TRACES_SAMPLER: 'always_on',
  };
}

/** The environment of the "off" run: nothing that watches the agent (tracing is off without OTEL_*). */
export function observabilityOffEnv(): Record<string, string> {
  return { FERRY_METRICS_ENABLED: 'false' };
}

function configurations(receiver: OtlpReceiver): Configuration[] {
  return [
    { name: 'off', env: observabilityOffEnv(), scrape: false },
    { name: 'on', env: observabilityOnEnv(receiver), scrape: true },
  ];
}

interface Result {
  wallMs: number[];
  p99Ms: number[];
  scrapes: number;
}

async function migrateOnce(uuid: string, from: string, to: string): Promise<number> {
  const dst = labHost(to);
  const t0 = performance.now();
  const { jobId } = await unary(agent(from).migration, 'Migrate', { vmId: uuid, dst: dst.mgmtIp, dstqemu: dst.migIp });
  const final = (await watchToEnd(from, jobId)).at(-1);
  if (final?.phase !== 'MIGRATION_PHASE_COMPLETED')
    throw new Error(`migration ${from} → ${to} ended ${final?.phase}: ${final?.error?.message}`);
  return performance.now() - t0;
}

/** One block: migrations back and forth for BLOCK_S, GetStats at each window's end, scrapes if asked. */
async function block(uuid: string, where: { at: string }, config: Configuration, result: Result): Promise<void> {
  const end = performance.now() + BLOCK_S * 1000;
  let stop = false;
  const sampler = (async () => {
    // The first window after the restart holds the start-up: skip it.
    for (let next = performance.now() + 2 * STATS_WINDOW_MS; !stop; next += STATS_WINDOW_MS) {
      while (!stop && performance.now() < next) await new Promise((r) => setTimeout(r, 200));
      if (stop) break;
      for (const host of HOSTS) {
        const stats = await unary(agent(host).host, 'GetStats', {});
        result.p99Ms.push(msFromProtoTime(stats.agent!.eventLoopDelayP99));
      }
    }
  })();
  const scraper = (async () => {
    while (config.scrape && !stop) {
      await Promise.all(HOSTS.map((h) => scrapeMetrics(h)));
      result.scrapes += HOSTS.length;
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  try {
    while (performance.now() < end) {
      const to = where.at === 'lab1' ? 'lab2' : 'lab1';
      result.wallMs.push(await migrateOnce(uuid, where.at, to));
      where.at = to;
    }
  } finally {
    stop = true;
    await Promise.all([sampler, scraper]);
  }
}

async function main(): Promise<void> {
  await ensureLab(2);
  // The engine's address on the management bridge: both hosts' ferryds reach it.
  const receiver = await startOtlpReceiver(readLabState().engineIp);
  const CONFIGURATIONS = configurations(receiver);
  for (const h of HOSTS) await destroyVm(h, VM);
  const { uuid } = await createVm('lab1', VM);
  const where = { at: 'lab1' };
  const results = new Map<string, Result>(CONFIGURATIONS.map((c) => [c.name, { wallMs: [], p99Ms: [], scrapes: 0 }]));
  try {
    for (let b = 0; b < BLOCKS; b++) {
      // Alternate the order too, so neither configuration always runs first after the other.
      const order = b % 2 === 0 ? CONFIGURATIONS : [...CONFIGURATIONS].reverse();
      for (const config of order) {
        closeAgents();
        await restartFerrydWith(HOSTS, config.env);
        await block(uuid, where, config, results.get(config.name)!);
      }
    }
  } finally {
    closeAgents();
    await restartFerrydWith(HOSTS, {});
    for (const h of HOSTS) await destroyVm(h, VM);
    await receiver.close();
  }
  if (receiver.spans.length === 0) throw new Error('tracing was on, yet no span reached the receiver');
  const rows = CONFIGURATIONS.map((c) => {
    const r = results.get(c.name)!;
    const wall = spread(r.wallMs);
    return [
      c.name,
      r.wallMs.length,
      round(median(r.wallMs)),
      `${wall.min}-${wall.max}`,
      round(median(r.p99Ms), 1),
      round(Math.max(...r.p99Ms), 1),
      r.scrapes,
      c.name === 'on' ? receiver.spans.length : 0,
    ];
  });
  console.log(
    table(
      [
        'configuration',
        'migrations',
        'wall ms (median)',
        'wall ms (min-max)',
        'event-loop p99 ms (median)',
        'p99 ms (max)',
        'scrapes',
        'spans',
      ],
      rows,
    ),
  );
  const off = results.get('off')!;
  const on = results.get('on')!;
  printSummary({
    benchmark: 'observability-overhead',
    blocks: BLOCKS,
    blockS: BLOCK_S,
    offWallMs: round(median(off.wallMs)),
    onWallMs: round(median(on.wallMs)),
    wallRatio: round(median(on.wallMs) / median(off.wallMs), 3),
    offEventLoopP99Ms: round(median(off.p99Ms), 1),
    onEventLoopP99Ms: round(median(on.p99Ms), 1),
    onEnv: Object.keys(observabilityOnEnv(receiver)),
    spans: receiver.spans.length,
  });
}

runBenchmark('observability-overhead', main, closeAgents);
