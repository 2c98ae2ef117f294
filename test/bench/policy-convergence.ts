/**
 * What each convergence policy does with one guest that does not converge by
 * itself: the lab's dirtying guest rewriting 256 MiB of its 512 MiB, migrated over a
 * link capped below its dirty rate. Side by side, from one run: the outcome,
 * the total time, the guest's downtime, passes, data sent and the actions the
 * policy took.
 *
 *   node dist/test/bench/policy-convergence.js [--from lab3] [--to lab4]
 *        [--bandwidth 50] [--dirty-mbps 300] [--completion-s-per-gib 60] [--presets]
 *
 * Each policy gets a fresh guest (same size and dirty rate) so none starts
 * warm. It brings the lab up (4 hosts) and cleans its guests up afterwards.
 */
import type { MigrationPolicy } from '../../shared/generated/ferry/v1/MigrationPolicy.js';
import { closeAgents } from '../support/ferry.js';
import { destroyVm, ensureLab } from '../support/lab.js';
import { after, follow, migrate, seconds, startDirtyGuest, trail } from '../support/policy-lab.js';
import { arg, printSummary, table } from './bench-support.js';
import { protoTimeFromMs, msFromProtoTime } from '../../shared/proto-time.js';

const FROM = arg('--from', 'lab3');
const TO = arg('--to', 'lab4');
const BANDWIDTH = Number(arg('--bandwidth', '50'));
const DIRTY = Number(arg('--dirty-mbps', '300'));
const PER_GIB = Number(arg('--completion-s-per-gib', '60'));
const VM = 'pol-bench';

const base: MigrationPolicy = {
  maxBandwidthMibps: BANDWIDTH,
  completionTimeoutPerGib: protoTimeFromMs(PER_GIB * 1000),
  stallTimeout: protoTimeFromMs(0),
};
const SCENARIOS: Array<{ name: string; policy: MigrationPolicy }> = [
  { name: 'no policy', policy: base },
  { name: 'auto-converge', policy: { ...base, autoConverge: true } },
  {
    name: 'downtime schedule',
    policy: {
      ...base,
      schedule: [
        after({ iteration: 1 }, 'SET_DOWNTIME', 1000),
        after({ iteration: 2 }, 'SET_DOWNTIME', 3000),
        after({ iteration: 3 }, 'SET_DOWNTIME', 8000),
      ],
    },
  },
  { name: 'post-copy', policy: { ...base, postCopy: true, schedule: [after({ iteration: 2 }, 'POST_COPY')] } },
];
if (process.argv.includes('--presets')) {
  for (const preset of ['minimal-downtime', 'post-copy-when-stalled', 'suspend-when-stalled'])
    SCENARIOS.push({ name: `preset ${preset}`, policy: { ...base, preset } });
}

interface Row {
  name: string;
  outcome: string;
  totalS: number;
  copyS: number;
  downtimeMs: number | undefined;
  iterations: number;
  sentMiB: number;
  actions: string;
}

async function runOne(name: string, policy: MigrationPolicy): Promise<Row> {
  await destroyVm(FROM, VM);
  const uuid = await startDirtyGuest(FROM, VM, { memMiB: 512, dirtyMbps: DIRTY });
  try {
    const accepted = Date.now();
    const { jobId } = await migrate(FROM, uuid, TO, policy);
    const { seen, final } = await follow(FROM, jobId);
    const ended = Date.now();
    const copyStart = seen.find((p) => p.phase === 'MIGRATION_PHASE_MIGRATING');
    const completed = final.phase === 'MIGRATION_PHASE_COMPLETED';
    return {
      name,
      outcome: completed ? 'completed' : `${final.phase.replace('MIGRATION_PHASE_', '').toLowerCase()}: ${final.error?.code ?? ''}`,
      totalS: (ended - accepted) / 1000,
      copyS: copyStart ? seconds(final.elapsed) - seconds(copyStart.elapsed) : 0,
      downtimeMs: completed ? msFromProtoTime(final.downtime) : undefined,
      iterations: final.iteration,
      sentMiB: Number(final.memory?.processedBytes ?? 0) / 2 ** 20,
      actions: trail(final).join('; ') || '-',
    };
  } finally {
    await destroyVm(FROM, VM);
  }
}

function rowsTable(rows: Row[]): string {
  return table(
    ['policy', 'outcome', 'total s', 'copy s', 'downtime ms', 'passes', 'sent MiB', 'actions'],
    rows.map((r) => [
      r.name,
      r.outcome,
      r.totalS.toFixed(1),
      r.copyS.toFixed(1),
      r.downtimeMs === undefined ? '-' : r.downtimeMs,
      r.iterations,
      r.sentMiB.toFixed(0),
      r.actions,
    ]),
  );
}

async function main(): Promise<void> {
  await ensureLab(Math.max(Number(FROM.replace('lab', '')), Number(TO.replace('lab', '')), 2));
  const rows: Row[] = [];
  for (const s of SCENARIOS) {
    process.stderr.write(`policy-convergence: ${s.name}…\n`);
    rows.push(await runOne(s.name, s.policy));
  }
  console.log(
    `Convergence policies: ${FROM} → ${TO}, a 512 MiB guest rewriting 256 MiB (asked ${DIRTY} MiB/s), link capped at ${BANDWIDTH} MiB/s, completion timeout ${PER_GIB} s/GiB`,
  );
  console.log(rowsTable(rows));
  console.log(
    "total: Migrate accepted → final phase; copy: the copy phase only (MIGRATING onwards); downtime: libvirt's measured pause of the guest; sent: memory bytes transferred.",
  );
  printSummary({
    benchmark: 'policy-convergence',
    rows: rows.map((r) => ({
      ...r,
      totalS: Math.round(r.totalS * 10) / 10,
      copyS: Math.round(r.copyS * 10) / 10,
      sentMiB: Math.round(r.sentMiB),
    })),
  });
}

main()
  .catch((err: unknown) => {
    console.error(`policy-convergence: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => closeAgents());
