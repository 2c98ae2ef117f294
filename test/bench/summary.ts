// Prints scripts/bench's JSON results as one table (the README's benchmark table).
import { readFileSync } from 'node:fs';
import type { Spread } from './bench-support.js';

interface Results {
  machine: { cpu: string; cores: number; memoryGiB: number; kernel: string; node: string };
  date: string;
  /** Each benchmark's summary line, or {benchmark, failed: true} when it failed (scripts/bench). */
  results: Array<{ benchmark: string; failed?: boolean }>;
}

interface Throughput {
  gbitPerS: number;
  fraction: number;
}

/** The summaries the benchmarks print (printSummary), as far as this table reads them. */
type Summary =
  | {
      benchmark: 'migrate-wall-time';
      rounds: number;
      ferryMs: Spread;
      virshMs: Spread;
      pythonMs?: Spread;
      ratio: number;
      ratioPython?: number;
      migrationNicShare: number;
      ferryAddedMs?: number;
      ferryBeforePerformMs?: Spread;
    }
  | {
      benchmark: 'migration-throughput';
      lineRateMbit: number;
      parallel: Throughput & { connections: number };
      single: Throughput;
      rawTcp: Throughput;
    }
  | {
      benchmark: 'concurrent-migrations';
      inFlight: number;
      guest: string;
      completed: number;
      migrations: number;
      everyStreamEnded: boolean;
      agentLagMs: { p99: number; max: number };
      benchLagP99Ms: number;
      unaryMs: { rpc: string; calls: number; p50: number; p99: number };
    }
  | { benchmark: 'agent-rss'; idleMiB: number; jobs: number; journalWired: boolean; withJobsMiB: number | null }
  | { benchmark: 'libvirt-event-loop-lag'; inFlight: number; lagMs: { p99: number; max: number } }
  | {
      benchmark: 'firewall-pinhole';
      operations?: Array<{ backend?: string; operation: string; present: number; p50: number; p95: number; p99?: number; goal?: string }>;
    }
  | {
      benchmark: 'watch-host';
      lifecycle_changes: number;
      lost: number;
      resyncs: number;
      latency_p99_ms: number;
      from_command_start_p99_ms: number;
      migrations_running_min: number;
    }
  | { benchmark: 'policy-convergence'; rows?: Array<{ name: string; outcome: string; totalS: number; downtimeMs?: number | null }> }
  | { benchmark: 'check-migration'; calls: number; plain: CheckTiming; copyStorage: CheckTiming; goalP99Ms: number }
  | {
      benchmark: 'drain';
      guests: number;
      maxParallel: number;
      guest: string;
      singleSumMs: number;
      drainMs: number;
      idealMs: number;
      ratio: number;
      goalRatio: number;
    }
  | {
      benchmark: 'observability-overhead';
      offWallMs: number;
      onWallMs: number;
      wallRatio: number;
      offEventLoopP99Ms: number;
      onEventLoopP99Ms: number;
      onEnv: string[];
      spans: number;
    }
  | {
      benchmark: 'postcopy-recovery';
      runs: number;
      breakS: number;
      completed: number;
      deadlocked: number;
      hung: number;
      toRecoveringMs: Spread;
      extraDowntimeS: Spread;
      goalCompleted: number;
      goalToRecoveringMs: number;
    }
  | {
      benchmark: 'cold-migration';
      writtenMiB: number;
      lineRateMbit: number;
      unshaped: ColdLink & { libvirtDownloadMbps?: number; ferryOfLibvirtDownload?: number };
      shaped: ColdLink;
      peakRssMiB: number;
    };

interface ColdCopy {
  outcome: string;
  wallS: number;
  wireMiB: number;
  mbps: number;
  ofRawTcp: number;
}

/** One link of the cold-migration benchmark: raw TCP, then each method's copy of the same disks. */
interface ColdLink {
  rawTcpMbps: number;
  ferry?: ColdCopy;
  rsync?: ColdCopy;
  scp?: ColdCopy;
}

interface CheckTiming {
  p50: number;
  p99: number;
  max: number;
  blocked: number;
}

/** "2033 ms (1990–2101)" from a benchmark's spread. */
const ms = (s: Spread) => `${s.median} ms (${s.min}–${s.max})`;

const file = process.argv[2] ?? 'bench-results.json';
const data = JSON.parse(readFileSync(file, 'utf8')) as Results;
const rows: Array<[string, string, string]> = [];
for (const r of data.results) {
  if (r.failed) {
    rows.push([r.benchmark, 'FAILED', '']);
    continue;
  }
  // The file is this project's own output; a benchmark not listed in Summary lands in default.
  const s = r as Summary;
  switch (s.benchmark) {
    case 'migrate-wall-time':
      rows.push([
        `migration wall time, Ferry / virsh (median of ${s.rounds}, min–max)`,
        `${ms(s.ferryMs)} / ${ms(s.virshMs)} = ${s.ratio}`,
        '<= 1.0',
      ]);
      if (s.pythonMs)
        rows.push([
          `migration wall time, Ferry / libvirt-python migrateToURI3 (median of ${s.rounds})`,
          `${ms(s.ferryMs)} / ${ms(s.pythonMs)} = ${s.ratioPython}`,
          '<= 1.0',
        ]);
      if (s.ferryAddedMs !== undefined && s.ferryBeforePerformMs)
        rows.push([
          "Ferry's own time per migration: median − migrateToURI3's median; Migrate → MIGRATING (validation, PrepareIncoming, pinhole, journal)",
          `${s.ferryAddedMs} ms; ${ms(s.ferryBeforePerformMs)}`,
          '',
        ]);
      rows.push(['bytes on the migration NIC (worst run)', `${s.migrationNicShare} %`, '>= 99 %']);
      break;
    case 'migration-throughput':
      rows.push([
        `throughput, link shaped to ${s.lineRateMbit / 1000} Gbit/s, ${s.parallel.connections} parallel connections`,
        `${s.parallel.gbitPerS} Gbit/s = ${s.parallel.fraction} × line rate`,
        '>= 0.9 ×',
      ]);
      rows.push(['throughput, same link, one connection', `${s.single.gbitPerS} Gbit/s = ${s.single.fraction} × line rate`, '']);
      rows.push([
        'throughput, same link, raw TCP stream (what tc lets through)',
        `${s.rawTcp.gbitPerS} Gbit/s = ${s.rawTcp.fraction} × line rate`,
        '',
      ]);
      break;
    case 'concurrent-migrations':
      rows.push([
        `${s.inFlight} migrations in flight on 4 hosts (${s.guest}): completed, every stream ended`,
        `${s.completed} / ${s.migrations}, ${s.everyStreamEnded ? 'yes' : 'NO'}`,
        'all, yes',
      ]);
      rows.push([
        'agent event-loop delay p99 during them (worst 10-s window; max)',
        `${s.agentLagMs.p99} ms (max ${s.agentLagMs.max}; the benchmark client's own p99 ${s.benchLagP99Ms})`,
        '< 20 ms',
      ]);
      rows.push([
        `unary RPC p99 during them (${s.unaryMs.rpc}, ${s.unaryMs.calls} calls)`,
        `${s.unaryMs.p99} ms (p50 ${s.unaryMs.p50})`,
        '< 10 ms',
      ]);
      break;
    case 'agent-rss':
      rows.push(['agent RSS, idle', `${s.idleMiB} MiB`, '< 80 MB']);
      rows.push([`agent RSS, ${s.jobs} finished jobs in the journal`, s.journalWired ? `${s.withJobsMiB} MiB` : 'journal not wired', '']);
      break;
    case 'libvirt-event-loop-lag':
      rows.push([
        `event-loop lag p99, ${s.inFlight} libvirt calls in flight during a migration`,
        `${s.lagMs.p99} ms (max ${s.lagMs.max})`,
        '< 20 ms',
      ]);
      break;
    case 'firewall-pinhole':
      for (const op of s.operations ?? []) {
        const backend = op.backend ? `${op.backend} ` : '';
        if (op.p99 === undefined) {
          rows.push([
            `${backend}pinhole ${op.operation} (${op.present} holes present), p50/p95`,
            `${op.p50} / ${op.p95} ms`,
            op.goal ?? '',
          ]);
        } else {
          const values = `${op.p50} / ${op.p95} / ${op.p99} ms`;
          rows.push([`${backend}pinhole ${op.operation} (${op.present} holes present), p50/p95/p99`, values, op.goal ?? '']);
        }
      }
      break;
    case 'watch-host':
      rows.push([
        `WatchHost, ${s.lifecycle_changes} lifecycle changes with ≥ ${s.migrations_running_min} migrations running: lost / RESYNC`,
        `${s.lost} / ${s.resyncs}`,
        '0 / 0',
      ]);
      rows.push([
        'WatchHost event latency p99, relative to `virsh event` (upper bound: from the virsh command start)',
        `${s.latency_p99_ms} ms (${s.from_command_start_p99_ms} ms)`,
        '< 100 ms',
      ]);
      break;
    case 'policy-convergence':
      for (const row of s.rows ?? []) {
        rows.push([
          `dirtying guest, policy "${row.name}": total s / downtime ms`,
          `${row.outcome}, ${row.totalS} s / ${row.downtimeMs ?? '-'} ms`,
          '',
        ]);
      }
      break;
    case 'check-migration':
      for (const [what, t] of [
        ['a disk-less guest', s.plain],
        ['a guest with a local disk, copy_storage all', s.copyStorage],
      ] as const) {
        rows.push([
          `CheckMigration answer time, ${what}, p50 / p99 / max (${s.calls} calls)`,
          `${t.p50} / ${t.p99} / ${t.max} ms${t.blocked > 0 ? ` (${t.blocked} not ok)` : ''}`,
          `p99 < ${s.goalP99Ms} ms`,
        ]);
      }
      break;
    case 'drain':
      rows.push([
        `drain of ${s.guests} guests (${s.guest}) from lab1 to lab2–lab4, max_parallel ${s.maxParallel}: wall time / (sum of single migrations / ${s.maxParallel})`,
        `${s.drainMs} / (${s.singleSumMs} / ${s.maxParallel} = ${s.idealMs}) ms = **${s.ratio}**`,
        `<= ${s.goalRatio}`,
      ]);
      break;
    case 'observability-overhead':
      rows.push([
        `migration wall time, observability on (metrics scraped every second, every span exported: ${s.onEnv.join(', ')}; ${s.spans} spans received) / off`,
        `${s.onWallMs} / ${s.offWallMs} ms = **${s.wallRatio}**`,
        'within noise',
      ]);
      rows.push([
        'agent event-loop p99 (median of 10 s windows), on / off',
        `${s.onEventLoopP99Ms} / ${s.offEventLoopP99Ms} ms`,
        'within noise',
      ]);
      break;
    case 'postcopy-recovery':
      rows.push([
        `post-copy broken for ${s.breakS} s (link down, sockets destroyed): runs completed`,
        `**${s.completed} of ${s.runs}**`,
        `>= ${s.goalCompleted} of ${s.runs}`,
      ]);
      rows.push([
        'post-copy recovery: refused, the destination QEMU deadlocked on a missing page (TCG) / resume hung',
        `${s.deadlocked} / ${s.hung} of ${s.runs}`,
        '0 under KVM / 0',
      ]);
      rows.push(['post-copy recovery: link up → RECOVERING, median (min–max)', ms(s.toRecoveringMs), `< ${s.goalToRecoveringMs} ms`]);
      rows.push([
        'post-copy recovery: extra guest downtime, median (min–max)',
        `${s.extraDowntimeS.median} s (${s.extraDowntimeS.min}–${s.extraDowntimeS.max})`,
        `break + resume`,
      ]);
      break;
    case 'cold-migration': {
      const each = (link: ColdLink, f: (c: ColdCopy) => string | number) =>
        [link.ferry, link.rsync, link.scp].map((c) => (c ? f(c) : '-')).join(' / ');
      rows.push([
        `cold migration of ${s.writtenMiB} MiB written, lab1 → lab2: bytes on the wire / written, Ferry / rsync -S over SSH / scp`,
        each(s.unshaped, (c) => (c.wireMiB / s.writtenMiB).toFixed(2)),
        'holes not sent',
      ]);
      rows.push([
        `same, wall time on a ${s.lineRateMbit} Mbit/s link (tc), Ferry / rsync / scp`,
        each(s.shaped, (c) => `${c.wallS} s`),
        '',
      ]);
      rows.push([
        `same, Ferry's rate on data while the link is busy, ${s.lineRateMbit} Mbit/s link`,
        s.shaped.ferry ? `**${(s.shaped.ferry.mbps / s.lineRateMbit).toFixed(2)}** × line rate` : '-',
        '>= 0.9 × line rate',
      ]);
      rows.push([
        "same, unshaped: Ferry / raw TCP; libvirt's own download alone (virsh, no network) / raw TCP",
        `${s.unshaped.ferry?.mbps ?? '-'} Mbit/s = ${s.unshaped.ferry?.ofRawTcp ?? '-'}; ${s.unshaped.libvirtDownloadMbps ?? '-'} Mbit/s = ${s.unshaped.libvirtDownloadMbps ? (s.unshaped.libvirtDownloadMbps / Math.max(1, s.unshaped.rawTcpMbps)).toFixed(2) : '-'}`,
        '>= 0.8 × raw TCP',
      ]);
      rows.push(['same, peak RSS of either agent during the transfer', `${s.peakRssMiB} MiB`, '< 150 MB']);
      break;
    }
    default:
      rows.push([r.benchmark, JSON.stringify(r).slice(0, 60), '']);
  }
}
console.log(
  `measured ${data.date} on ${data.machine.cores} × ${data.machine.cpu}, ${data.machine.memoryGiB} GiB, Linux ${data.machine.kernel}, Node ${data.machine.node}`,
);
console.log('| measure | result | goal |\n| --- | --- | --- |');
for (const [m, v, g] of rows) console.log(`| ${m} | ${v} | ${g} |`);
