// Throughput of a Ferry migration over a migration link shaped to 1 Gbit/s by
// `tc` (a token bucket on eth1 of both hosts), with parallel connections
// (QEMU multifd) and without. The subject is a dirtying guest whose dirtied
// half of memory holds real bytes (zero pages travel as markers and would not
// load the link), dirtied slowly so the copy is mostly one pass. The rate is
// what the source's eth1 counter shows while the link is busy: bytes on the
// wire / the time they took. A raw TCP stream through the same shaping first
// shows what the link itself lets through.
//
//   node dist/test/bench/migration-throughput.js [--from lab1] [--to lab2]
//        [--mem-mib 2048] [--parallel 4] [--rate-mbit 1000]
//
// The qdiscs are removed at the end, whatever happens.
import { closeAgents } from '../support/ferry.js';
import { destroyVm, ensureLab } from '../support/lab.js';
import { follow, migrate, seconds, startDirtyGuest } from '../support/policy-lab.js';
import { arg, printSummary, round, runBenchmark, table } from './bench-support.js';
import { sleep } from '../support/wait.js';
import { busyWindow, sampleNic, type BusyWindow } from './nic-sampler.js';
import { rawTcpStream } from './raw-tcp.js';
import { shapeNic } from '../support/link-shaping.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';

const FROM = arg('--from', 'lab1');
const TO = arg('--to', 'lab2');
const MEM_MIB = Number(arg('--mem-mib', '2048'));
const PARALLEL = Number(arg('--parallel', '4'));
const RATE_MBIT = Number(arg('--rate-mbit', '1000'));
const LINE_BITS = RATE_MBIT * 1e6;
const NIC = 'eth1';
const VM = 'bench-throughput';
const RAW_TCP_PORT = 49310; // outside Ferry's managed range: no pinhole needed
// An interval is "busy" above a tenth of the line rate: set-up and the final hand-over are not the link's work.
const BUSY = LINE_BITS / 10;

interface Row {
  name: string;
  outcome: string;
  wire: BusyWindow | undefined;
  copyS: number;
  sentMiB: number;
}

/** A plain TCP stream FROM → TO for `secondsLong` seconds: the shaped link's own capacity. */
async function rawTcp(secondsLong: number): Promise<BusyWindow | undefined> {
  return rawTcpStream(FROM, TO, RAW_TCP_PORT, secondsLong * 1000, async (send) => {
    const sampler = await sampleNic(FROM, NIC);
    await send();
    await sleep(300);
    await sampler.stop();
    return busyWindow(sampler.samples, BUSY);
  });
}

async function migrateOnce(name: string, from: string, to: string, uuid: string, parallelConnections: number): Promise<Row> {
  const sampler = await sampleNic(from, NIC);
  let followed: Awaited<ReturnType<typeof follow>>;
  try {
    const { jobId } = await migrate(from, uuid, to, { parallelConnections, completionTimeoutPerGib: protoTimeFromMs(300 * 1000) });
    followed = await follow(from, jobId);
    await sleep(300);
  } finally {
    await sampler.stop();
  }
  const { seen, final } = followed;
  const copyStart = seen.find((p) => p.phase === 'MIGRATION_PHASE_MIGRATING');
  return {
    name,
    outcome: final.phase === 'MIGRATION_PHASE_COMPLETED' ? 'completed' : `${final.phase}: ${final.error?.message ?? ''}`,
    wire: busyWindow(sampler.samples, BUSY),
    copyS: copyStart ? seconds(final.elapsed) - seconds(copyStart.elapsed) : 0,
    sentMiB: Number(final.memory?.processedBytes ?? 0) / 2 ** 20,
  };
}

async function main(): Promise<void> {
  await ensureLab(Math.max(Number(FROM.replace('lab', '')), Number(TO.replace('lab', '')), 2));
  await destroyVm(FROM, VM);
  const rows: Row[] = [];
  let raw: BusyWindow | undefined;
  try {
    for (const h of [FROM, TO]) await shapeNic(h, NIC, RATE_MBIT);
    raw = await rawTcp(4);
    // Half of memory is rewritten with non-zero bytes, at 8 MiB/s: a copy that converges in about one pass.
    const uuid = await startDirtyGuest(FROM, VM, { memMiB: MEM_MIB, dirtyMbps: 8 });
    rows.push(await migrateOnce(`Ferry, ${PARALLEL} parallel connections`, FROM, TO, uuid, PARALLEL));
    rows.push(await migrateOnce('Ferry, one connection', TO, FROM, uuid, 1));
  } finally {
    for (const h of [FROM, TO]) await shapeNic(h, NIC, 0);
    await destroyVm(FROM, VM);
    closeAgents();
  }
  const gbit = (w: BusyWindow | undefined) => (w ? round(w.bitsPerS / 1e9, 3) : 0);
  const fraction = (w: BusyWindow | undefined) => (w ? round(w.bitsPerS / LINE_BITS, 2) : 0);
  console.log(
    `Migration throughput over eth1 shaped to ${RATE_MBIT} Mbit/s (tc tbf), ${FROM} ⇄ ${TO}, a ${MEM_MIB} MiB guest with ${MEM_MIB / 2} MiB of non-zero memory`,
  );
  console.log(
    table(
      ['transfer', 'outcome', 'Gbit/s on the wire', 'of line rate', 'busy s', 'copy s', 'sent MiB'],
      [
        ['raw TCP, one stream', 'done', gbit(raw), fraction(raw), round(raw?.seconds ?? 0, 1), '-', round((raw?.bytes ?? 0) / 2 ** 20)],
        ...rows.map((r) => [
          r.name,
          r.outcome,
          gbit(r.wire),
          fraction(r.wire),
          round(r.wire?.seconds ?? 0, 1),
          round(r.copyS, 1),
          round(r.sentMiB),
        ]),
      ],
    ),
  );
  console.log(
    'Gbit/s: bytes counted on the source eth1 (headers included, as the shaper counts them) over the span the link was busy; copy s: MIGRATING → COMPLETED as the job reports it.',
  );
  printSummary({
    benchmark: 'migration-throughput',
    lineRateMbit: RATE_MBIT,
    guestMiB: MEM_MIB,
    rawTcp: { gbitPerS: gbit(raw), fraction: fraction(raw) },
    parallel: {
      connections: PARALLEL,
      outcome: rows[0]!.outcome,
      gbitPerS: gbit(rows[0]!.wire),
      fraction: fraction(rows[0]!.wire),
      copyS: round(rows[0]!.copyS, 1),
    },
    single: {
      outcome: rows[1]!.outcome,
      gbitPerS: gbit(rows[1]!.wire),
      fraction: fraction(rows[1]!.wire),
      copyS: round(rows[1]!.copyS, 1),
    },
  });
}

runBenchmark('migration-throughput', main);
