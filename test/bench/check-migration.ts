// Benchmark: CheckMigration's answer time. lab1 checks lab1 → lab2 for two guests, one call
// after another: a disk-less guest (the VM, its definition, the destination's CPU, memory,
// machine type, versions, address, ports), and one with a local disk and copy_storage all
// (its filesystem, the room for its image on lab2 too). Each call is timed at the client,
// over mutual TLS as an engine calls; the first calls warm both agents up and are not counted.
//
//   node dist/test/bench/check-migration.js [--calls 200] [--warmup 10]
//
// Goal: p99 < 500 ms. Prints the numbers and a JSON summary line.
import { unary } from '../../shared/client.js';
import type { MigrateRequest } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import { agent, closeAgents } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, labHost } from '../support/lab.js';
import { arg, percentile, printSummary, round, runBenchmark, table } from './bench-support.js';

const CALLS = Number(arg('--calls', '200'));
const WARMUP = Number(arg('--warmup', '10'));
const GOAL_P99_MS = 500;
const PLAIN = 'bench-check-plain';
const DISK = 'bench-check-disk';

interface Timing {
  p50: number;
  p99: number;
  max: number;
  /** Calls whose answer was not ok (a lab that cannot migrate these guests measures something else). */
  blocked: number;
}

async function timed(migration: MigrateRequest): Promise<Timing> {
  const ms: number[] = [];
  let blocked = 0;
  for (let i = 0; i < WARMUP + CALLS; i++) {
    const started = performance.now();
    const answer = await unary(agent('lab1').migration, 'CheckMigration', { migration });
    const took = performance.now() - started;
    if (i < WARMUP) continue;
    ms.push(took);
    if (!answer.ok) blocked++;
  }
  return { p50: round(percentile(ms, 50), 1), p99: round(percentile(ms, 99), 1), max: round(Math.max(...ms), 1), blocked };
}

async function main(): Promise<void> {
  await ensureLab(2);
  const [plain, disk] = await Promise.all([createVm('lab1', PLAIN), createVm('lab1', DISK, { diskMiB: 64 })]);
  const to = (vmId: string, extra: Partial<MigrateRequest> = {}): MigrateRequest => ({
    vmId,
    dst: labHost('lab2').mgmtIp,
    dstqemu: labHost('lab2').migIp,
    ...extra,
  });
  const rows = {
    plain: await timed(to(plain.uuid)),
    copyStorage: await timed(to(disk.uuid, { policy: { copyStorage: 'COPY_STORAGE_ALL' } })),
  };
  console.log(`CheckMigration lab1 → lab2, ${CALLS} calls each after ${WARMUP} warm-up calls, one at a time:`);
  console.log(
    table(
      ['guest', 'p50 ms', 'p99 ms', 'max ms', 'blocked'],
      [
        ['disk-less', rows.plain.p50, rows.plain.p99, rows.plain.max, rows.plain.blocked],
        ['local disk, copy_storage all', rows.copyStorage.p50, rows.copyStorage.p99, rows.copyStorage.max, rows.copyStorage.blocked],
      ],
    ),
  );
  const worstP99 = Math.max(rows.plain.p99, rows.copyStorage.p99);
  console.log(`goal: p99 < ${GOAL_P99_MS} ms: ${worstP99 < GOAL_P99_MS ? 'met' : 'NOT met'}`);
  if (rows.plain.blocked + rows.copyStorage.blocked > 0)
    console.log('warning: some answers were not ok: the lab cannot migrate these guests');
  printSummary({ benchmark: 'check-migration', calls: CALLS, ...rows, goalP99Ms: GOAL_P99_MS });
}

runBenchmark('check-migration', main, () => {
  void Promise.all([destroyVm('lab1', PLAIN), destroyVm('lab1', DISK)]).finally(closeAgents);
});
