// Benchmark: emptying a host (HostService.EnterMaintenance). GUESTS small
// disk-less guests on lab1. First each migrates alone, lab1 → lab2, lab3, lab4
// in turn, timed from the Migrate call to COMPLETED seen at the client, and
// back (untimed): the sum of the single migration times. Then lab1 enters
// maintenance towards lab2..lab4 with max_parallel P, timed from the
// EnterMaintenance call to DRAINED seen on WatchMaintenance. The drain's
// migrations are the singles' (same guests, same hosts, same direction, timed
// the same way at the client, each with its checks), so with P lanes and
// nothing lost between them the drain takes sum / P; the goal is ≤ 1.1 × that.
// The jobs' own times (started_at → finished_at) say where a miss comes from:
// migrations slower side by side (the machine's CPUs), or lanes left idle.
//
//   node dist/test/bench/drain.js [--guests 20] [--max-parallel 2]
//
// Prints a table and, last, a JSON summary line (read by scripts/bench).
import { unary } from '../../shared/client.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import { msFromProtoTime } from '../../shared/proto-time.js';
import { agent, closeAgents, status, watchToEnd } from '../support/ferry.js';
import { accelerator, createVm, destroyVm, ensureLab, labHost } from '../support/lab.js';
import { enterMaintenance, exitMaintenance, labHostOf, MaintenanceWatch, runningGuests, vmStates } from '../support/maintenance.js';
import { arg, printSummary, round, runBenchmark, spread, table } from './bench-support.js';

const GUESTS = Number(arg('--guests', '20'));
const MAX_PARALLEL = Number(arg('--max-parallel', '2'));
const GOAL_RATIO = 1.1;
const SRC = 'lab1';
const DESTINATIONS = ['lab2', 'lab3', 'lab4'];
const MEM_MIB = 128;
const names = Array.from({ length: GUESTS }, (_, i) => `bench-drain-${String(i + 1).padStart(2, '0')}`);

/** The job's own time, from the agent's timestamps. */
const jobMs = (p: MigrationProgress__Output) => msFromProtoTime(p.finishedAt) - msFromProtoTime(p.startedAt);

/** Migrate alone, from → to over the migration network; the client's wall time and the final status. */
async function migrateAlone(vmId: string, from: string, to: string): Promise<{ ms: number; final: MigrationProgress__Output }> {
  const t0 = performance.now();
  const { jobId } = await unary(agent(from).migration, 'Migrate', { vmId, dst: labHost(to).mgmtIp, dstqemu: labHost(to).migIp });
  const final = (await watchToEnd(from, jobId)).at(-1);
  const ms = performance.now() - t0;
  if (final?.phase !== 'MIGRATION_PHASE_COMPLETED') throw new Error(`${from} → ${to} ended ${final?.phase}: ${final?.error?.message}`);
  return { ms, final };
}

/** Runs the tasks, at most `width` at once (creating guests through scripts/lab). */
async function pool<T>(items: readonly T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: width }, lane));
}

let savedLimits: Array<{ host: string; maxOutgoing: number; maxIncoming: number }> = [];

/** Limits that let P migrations leave lab1 and P arrive at any one destination (default 2 each). */
async function raiseLimits(): Promise<void> {
  for (const host of [SRC, ...DESTINATIONS]) {
    const limits = (await unary(agent(host).host, 'GetCapabilities', {})).limits;
    if (!limits) throw new Error(`${host} reports no limits`);
    savedLimits.push({ host, maxOutgoing: limits.maxOutgoing, maxIncoming: limits.maxIncoming });
    await unary(
      agent(host).migration,
      'SetMigrationLimits',
      host === SRC
        ? { maxOutgoing: Math.max(limits.maxOutgoing, MAX_PARALLEL) }
        : { maxIncoming: Math.max(limits.maxIncoming, MAX_PARALLEL) },
    );
  }
}

async function main(): Promise<void> {
  if (!(GUESTS >= 1 && MAX_PARALLEL >= 1)) throw new Error('--guests and --max-parallel want whole numbers >= 1');
  await ensureLab(4);
  for (const name of names) await destroyVm(SRC, name);
  const strangers = await runningGuests(SRC);
  if (strangers.length > 0) throw new Error(`lab1 runs other guests (${strangers.join(', ')}): the drain would move them too`);
  await raiseLimits();

  const uuids = new Map<string, string>();
  await pool(names, 4, async (name) => {
    uuids.set(name, (await createVm(SRC, name, { memMiB: MEM_MIB })).uuid);
  });
  const uuidOf = (name: string) => uuids.get(name) ?? '';

  // Untimed: the first migration between two freshly started daemons pays their TLS connections.
  const first = uuidOf(names[0]!);
  for (const dst of DESTINATIONS) {
    await migrateAlone(first, SRC, dst);
    await migrateAlone(first, dst, SRC);
  }

  const single: number[] = [];
  const singleJob: number[] = [];
  for (const [i, name] of names.entries()) {
    const dst = DESTINATIONS[i % DESTINATIONS.length]!;
    const { ms, final } = await migrateAlone(uuidOf(name), SRC, dst);
    single.push(ms);
    singleJob.push(jobMs(final));
    await migrateAlone(uuidOf(name), dst, SRC);
  }
  const singleSum = single.reduce((a, b) => a + b, 0);

  const t0 = Date.now();
  await enterMaintenance(SRC, DESTINATIONS, { maxParallel: MAX_PARALLEL });
  const watch = new MaintenanceWatch(SRC);
  try {
    await watch.waitForEnd(30 * 60_000);
  } finally {
    watch.close();
  }
  const drainedAt = watch.messages.find((m) => m.phase === 'MAINTENANCE_PHASE_DRAINED')?.receivedAt;
  const end = watch.last();
  if (!end || drainedAt === undefined) throw new Error(`the drain ended ${end?.phase}: ${end ? vmStates(end) : ''}`);
  const drainMs = drainedAt - t0;

  const drainJobs = await Promise.all(end.vms.map((v) => status(SRC, v.jobId)));
  const drainJob = drainJobs.map(jobMs);
  const perDestination = Object.fromEntries(DESTINATIONS.map((d) => [d, end.vms.filter((v) => labHostOf(v.destination) === d).length]));
  const ideal = singleSum / MAX_PARALLEL;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const summary = {
    benchmark: 'drain',
    guests: GUESTS,
    maxParallel: MAX_PARALLEL,
    guest: `disk-less ${MEM_MIB} MiB ${accelerator(SRC)} guest, idle`,
    singleMs: spread(single),
    singleSumMs: round(singleSum),
    drainMs: round(drainMs),
    idealMs: round(ideal),
    ratio: round(drainMs / ideal, 2),
    goalRatio: GOAL_RATIO,
    perDestination,
    // The agent's own job times: alone, and side by side in the drain (slower if the lanes compete for CPU).
    singleJobSumMs: round(sum(singleJob)),
    drainJobSumMs: round(sum(drainJob)),
    // Lane time not spent in a job: checks, choosing, waiting between one VM and the next.
    laneIdleMs: round(drainMs * MAX_PARALLEL - sum(drainJob)),
  };

  console.log(`drain of ${GUESTS} guests (${summary.guest}) from lab1 to ${DESTINATIONS.join(', ')}, max_parallel ${MAX_PARALLEL}`);
  console.log(
    table(
      ['measure', 'ms'],
      [
        [
          `single migrations, median (min–max) of ${GUESTS}`,
          `${summary.singleMs.median} (${summary.singleMs.min}–${summary.singleMs.max})`,
        ],
        ['sum of the single migrations', summary.singleSumMs],
        [`ideal drain: sum / ${MAX_PARALLEL}`, summary.idealMs],
        ['drain: EnterMaintenance → DRAINED', summary.drainMs],
        ['job time (started_at → finished_at), sum: alone', summary.singleJobSumMs],
        ['job time, sum: in the drain', summary.drainJobSumMs],
        [`lane time outside a job (drain × ${MAX_PARALLEL} − jobs)`, summary.laneIdleMs],
      ],
    ),
  );
  console.log(`VMs per destination: ${DESTINATIONS.map((d) => `${d} ${perDestination[d]}`).join(', ')}`);
  console.log(
    `ratio drain / (sum / ${MAX_PARALLEL}) = ${summary.ratio} (goal <= ${GOAL_RATIO}): ${summary.ratio <= GOAL_RATIO ? 'met' : 'NOT met'}`,
  );
  printSummary(summary);
}

async function cleanup(): Promise<void> {
  await exitMaintenance(SRC, true).catch((err: unknown) => console.error(`drain: ExitMaintenance on lab1: ${String(err)}`));
  for (const name of names) await destroyVm(SRC, name).catch((err: unknown) => console.error(String(err)));
  for (const { host, maxOutgoing, maxIncoming } of savedLimits) {
    await unary(agent(host).migration, 'SetMigrationLimits', { maxOutgoing, maxIncoming }).catch(() => undefined);
  }
  savedLimits = [];
  closeAgents();
}

runBenchmark('drain', main, () => {
  void cleanup();
});
