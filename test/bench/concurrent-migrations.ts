// The agents under load: 8 migrations in flight at once on the 4-host ring
// (lab1 → lab2 → lab3 → lab4 → lab1, two guests per hop). Meanwhile the
// benchmark calls a cheap unary RPC (ListMigrations of the active jobs) on
// lab1 back to back and times each call at the client, and reads every
// agent's own event-loop delay from GetStats (GetStatsResponse.agent: p99 and max
// over the agent's last complete 10-s window) once a second, on until the
// window holding the last migration's end has closed. Figures: the worst
// window of any agent that overlaps the run.
//
//   node dist/test/bench/concurrent-migrations.js [--guest idle|dirty] [--seconds 30]
//        [--per-hop 2] [--bandwidth 8]
//
// --guest idle (default): idle disk-less guests (KVM where lab1 has it, else TCG), cheap on the CPU, so what
// loads the machine is the agents' own work. Their memory is nearly all zero
// pages (sent as markers), so one migration takes a few seconds: each guest
// goes back and forth on its hop until --seconds have passed, keeping 8 in
// flight. --guest dirty: 256 MiB TCG guests with 128 MiB of real bytes, one
// migration each under a --bandwidth cap (MiB/s); on a 2-core machine their
// emulated CPUs compete with the agents. Timing starts after a quiet window,
// so no window counted holds a guest's boot or an agent's start-up. Limits
// are raised with SetMigrationLimits where below what the run needs, and
// restored afterwards.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { unary } from '../../shared/client.js';
import type { AgentProcessStats__Output } from '../../shared/generated/ferry/v1/AgentProcessStats.js';
import { agent, closeAgents } from '../support/ferry.js';
import { accelerator, createVm, destroyVm, ensureLab } from '../support/lab.js';
import { follow, migrate, seconds, startDirtyGuest } from '../support/policy-lab.js';
import { arg, median, percentile, printSummary, round, runBenchmark, table } from './bench-support.js';
import { sleep } from '../support/wait.js';
import { msFromProtoTime } from '../../shared/proto-time.js';

const DIRTY = arg('--guest', 'idle') === 'dirty';
const SECONDS = Number(arg('--seconds', DIRTY ? '0' : '30'));
const PER_HOP = Number(arg('--per-hop', '2'));
const BANDWIDTH = Number(arg('--bandwidth', '8'));
const HOSTS = ['lab1', 'lab2', 'lab3', 'lab4'];
const RPC_HOST = 'lab1';
const WINDOW_S = 10; // agent/host/agent-process.ts WINDOW_MS
/** Read once the lab is up: the accelerator is lab1's. */
const guest = (): string =>
  DIRTY
    ? `256 MiB TCG guests dirtying 128 MiB at 2 MiB/s, capped at ${BANDWIDTH} MiB/s`
    : `idle disk-less 256 MiB ${accelerator('lab1')} guests, back and forth`;

interface Lane {
  vm: string;
  hop: [string, string];
  uuid: string;
  runs: Array<{ outcome: string; seconds: number; ended: boolean }>;
}

/** Raises the limits where below `need`; returns how to put them back. */
async function ensureLimits(need: number): Promise<() => Promise<void>> {
  const restore: Array<() => Promise<unknown>> = [];
  for (const host of HOSTS) {
    const { limits } = await unary(agent(host).host, 'GetCapabilities', {});
    const { maxOutgoing, maxIncoming } = limits!;
    if (maxOutgoing >= need && maxIncoming >= need) continue;
    await unary(agent(host).migration, 'SetMigrationLimits', {
      maxOutgoing: Math.max(need, maxOutgoing),
      maxIncoming: Math.max(need, maxIncoming),
    });
    restore.push(() => unary(agent(host).migration, 'SetMigrationLimits', { maxOutgoing, maxIncoming }));
  }
  return async () => {
    for (const r of restore) await r();
  };
}

/** Migrates the lane's guest across its hop, back and forth until `until` (at least once). */
async function drive(lane: Lane, until: number): Promise<void> {
  let [from, to] = lane.hop;
  do {
    const { jobId } = await migrate(from, lane.uuid, to, DIRTY ? { maxBandwidthMibps: BANDWIDTH } : {});
    const { final, phases } = await follow(from, jobId);
    const completed = final.phase === 'MIGRATION_PHASE_COMPLETED';
    lane.runs.push({
      outcome: completed ? 'completed' : `${final.phase}: ${final.error?.message ?? ''}`,
      seconds: seconds(final.elapsed),
      ended: /COMPLETED|FAILED|CANCELLED/.test(phases.at(-1) ?? ''),
    });
    if (!completed) return;
    [from, to] = [to, from];
  } while (Date.now() < until);
}

async function main(): Promise<void> {
  await ensureLab(4);
  const lanes: Lane[] = HOSTS.flatMap((from, i) =>
    Array.from({ length: PER_HOP }, (_, k) => ({
      vm: `bench-ring-${i + 1}${String.fromCharCode(97 + k)}`,
      hop: [from, HOSTS[(i + 1) % HOSTS.length]!] as [string, string],
      uuid: '',
      runs: [],
    })),
  );
  for (const l of lanes) await destroyVm(l.hop[0], l.vm);
  // Back and forth, a host may send its own lanes' guests and return its neighbour's at once.
  const restoreLimits = await ensureLimits(DIRTY ? PER_HOP : 2 * PER_HOP);
  const samples: Array<{ host: string; at: number; agent: AgentProcessStats__Output }> = [];
  const latencies: number[] = [];
  const ownLag = monitorEventLoopDelay({ resolution: 10 });
  let [start, end, migrating, sampling] = [0, 0, true, true];
  const background: Array<Promise<void>> = [];
  try {
    await Promise.all(
      lanes.map(async (l) => {
        l.uuid = DIRTY ? await startDirtyGuest(l.hop[0], l.vm, { memMiB: 256, dirtyMbps: 2 }) : (await createVm(l.hop[0], l.vm)).uuid;
      }),
    );
    // Channels up, every agent past its first two windows, then one quiet window before timing anything.
    const uptimes = await Promise.all(
      HOSTS.map(async (host) => msFromProtoTime((await unary(agent(host).host, 'GetStats', {})).agent!.uptime) / 1000),
    );
    await sleep(Math.max(WINDOW_S, 2 * WINDOW_S - Math.min(...uptimes)) * 1000);

    background.push(
      (async () => {
        while (sampling) {
          const at = Date.now();
          await Promise.all(
            HOSTS.map(async (host) => samples.push({ host, at, agent: (await unary(agent(host).host, 'GetStats', {})).agent! })),
          );
          await sleep(1000 - (Date.now() - at));
        }
      })(),
    );
    background.push(
      (async () => {
        while (migrating) {
          const t0 = performance.now();
          await unary(agent(RPC_HOST).migration, 'ListMigrations', { activeOnly: true });
          latencies.push(performance.now() - t0);
        }
      })(),
    );
    ownLag.enable();
    start = Date.now();
    await Promise.all(lanes.map((l) => drive(l, start + SECONDS * 1000)));
    end = Date.now();
    migrating = false;
    ownLag.disable();
    await sleep((WINDOW_S + 1.5) * 1000); // until the agents' window holding `end` has closed and been read
  } finally {
    migrating = false;
    sampling = false;
    await Promise.allSettled(background); // each loop ends after its call in flight
    for (const l of lanes) await destroyVm(l.hop[0], l.vm);
    await restoreLimits().catch((err: unknown) => console.error(`restoring limits: ${String(err)}`));
    closeAgents();
  }
  await Promise.all(background); // a loop that failed fails the benchmark

  const during = samples.filter((s) => s.at > start);
  const perHost = HOSTS.map((host) => {
    const mine = during.filter((s) => s.host === host);
    return {
      host,
      p99Ms: Math.max(...mine.map((s) => msFromProtoTime(s.agent.eventLoopDelayP99))),
      maxMs: Math.max(...mine.map((s) => msFromProtoTime(s.agent.eventLoopDelayMax))),
      rssMiB: round(Math.max(...mine.map((s) => Number(s.agent.rssBytes))) / 2 ** 20, 1),
    };
  });
  const runs = lanes.flatMap((l) => l.runs);
  const summary = {
    benchmark: 'concurrent-migrations',
    guest: guest(),
    inFlight: lanes.length,
    migrations: runs.length,
    completed: runs.filter((r) => r.outcome === 'completed').length,
    everyStreamEnded: runs.every((r) => r.ended),
    wallS: round((end - start) / 1000, 1),
    agentLagMs: { p99: round(Math.max(...perHost.map((h) => h.p99Ms)), 2), max: round(Math.max(...perHost.map((h) => h.maxMs)), 2) },
    unaryMs: {
      rpc: 'ListMigrations',
      calls: latencies.length,
      p50: round(percentile(latencies, 50), 2),
      p99: round(percentile(latencies, 99), 2),
      max: round(Math.max(...latencies), 2),
    },
    benchLagP99Ms: round(Math.max(0, ownLag.percentile(99) / 1e6 - 10), 2),
    perHost,
  };
  console.log(
    `${lanes.length} migrations in flight at once on ${HOSTS.join(' → ')} → lab1 (${PER_HOP} per hop; ${guest()}): ${summary.completed} of ${runs.length} completed in ${summary.wallS} s`,
  );
  console.log(
    table(
      ['guest', 'hop', 'migrations', 'completed', 'median s', 'not completed'],
      lanes.map((l) => [
        l.vm,
        `${l.hop[0]} ⇄ ${l.hop[1]}`,
        l.runs.length,
        l.runs.filter((r) => r.outcome === 'completed').length,
        round(median(l.runs.map((r) => r.seconds)), 1),
        l.runs.find((r) => r.outcome !== 'completed')?.outcome ?? '-',
      ]),
    ),
  );
  console.log(
    table(
      ['agent', 'event-loop delay p99 ms (worst 10-s window)', 'max ms', 'RSS MiB (max)'],
      perHost.map((h) => [h.host, h.p99Ms, h.maxMs, h.rssMiB]),
    ),
  );
  console.log(
    `unary ${summary.unaryMs.rpc} on ${RPC_HOST}, back to back during the run: ${latencies.length} calls, p50 ${summary.unaryMs.p50} ms, p99 ${summary.unaryMs.p99} ms (goal < 10), max ${summary.unaryMs.max} ms`,
  );
  console.log(
    `agents' event-loop delay p99 ${summary.agentLagMs.p99} ms (goal < 20), max ${summary.agentLagMs.max} ms; this client's own p99 ${summary.benchLagP99Ms} ms (part of every latency above)`,
  );
  printSummary(summary);
}

runBenchmark('concurrent-migrations', main);
