// Prints scripts/bench's JSON results as one table (the README's benchmark table).
import { readFileSync } from 'node:fs';

interface Results {
  machine: { cpu: string; cores: number; memoryGiB: number; kernel: string; node: string };
  date: string;
  results: Array<Record<string, any>>;
}

/** "2033 ms (1990–2101)" from a benchmark's spread. */
const ms = (s: { median: number; min: number; max: number }) => `${s.median} ms (${s.min}–${s.max})`;

const file = process.argv[2] ?? 'bench-results.json';
const data = JSON.parse(readFileSync(file, 'utf8')) as Results;
const rows: Array<[string, string, string]> = [];
for (const r of data.results) {
  if (r.failed) {
    rows.push([r.benchmark, 'FAILED', '']);
    continue;
  }
  switch (r.benchmark) {
    case 'migrate-wall-time':
      rows.push([`migration wall time, Ferry / virsh (median of ${r.rounds}, min–max)`, `${ms(r.ferryMs)} / ${ms(r.virshMs)} = ${r.ratio}`, '<= 1.0']);
      if (r.pythonMs) rows.push([`migration wall time, Ferry / libvirt-python migrateToURI3 (median of ${r.rounds})`, `${ms(r.ferryMs)} / ${ms(r.pythonMs)} = ${r.ratioPython}`, '<= 1.0']);
      rows.push(['bytes on the migration NIC (worst run)', `${r.migrationNicShare} %`, '>= 99 %']);
      break;
    case 'migration-throughput':
      rows.push([`throughput, link shaped to ${r.lineRateMbit / 1000} Gbit/s, ${r.parallel.connections} parallel connections`, `${r.parallel.gbitPerS} Gbit/s = ${r.parallel.fraction} × line rate`, '>= 0.9 ×']);
      rows.push(['throughput, same link, one connection', `${r.single.gbitPerS} Gbit/s = ${r.single.fraction} × line rate`, '']);
      rows.push(['throughput, same link, raw TCP stream (what tc lets through)', `${r.rawTcp.gbitPerS} Gbit/s = ${r.rawTcp.fraction} × line rate`, '']);
      break;
    case 'concurrent-migrations':
      rows.push([`${r.inFlight} migrations in flight on 4 hosts (${r.guest}): completed, every stream ended`, `${r.completed} / ${r.migrations}, ${r.everyStreamEnded ? 'yes' : 'NO'}`, 'all, yes']);
      rows.push(['agent event-loop delay p99 during them (worst 10-s window; max)', `${r.agentLagMs.p99} ms (max ${r.agentLagMs.max}; the benchmark client's own p99 ${r.benchLagP99Ms})`, '< 20 ms']);
      rows.push([`unary RPC p99 during them (${r.unaryMs.rpc}, ${r.unaryMs.calls} calls)`, `${r.unaryMs.p99} ms (p50 ${r.unaryMs.p50})`, '< 10 ms']);
      break;
    case 'agent-rss':
      rows.push(['agent RSS, idle', `${r.idleMiB} MiB`, '< 80 MB']);
      rows.push([`agent RSS, ${r.jobs} finished jobs in the journal`, r.journalWired ? `${r.withJobsMiB} MiB` : 'journal not wired', '']);
      break;
    case 'libvirt-event-loop-lag':
      rows.push([`event-loop lag p99, ${r.inFlight} libvirt calls in flight during a migration`, `${r.lagMs.p99} ms (max ${r.lagMs.max})`, '< 20 ms']);
      break;
    case 'firewall-pinhole':
      for (const op of r.operations ?? []) rows.push([`pinhole ${op.operation} (${op.present} holes present), p50/p95`, `${op.p50} / ${op.p95} ms`, op.goal ?? '']);
      break;
    case 'policy-convergence':
      for (const row of r.rows ?? []) {
        rows.push([`dirtying guest, policy "${row.name}": total s / downtime ms`, `${row.outcome}, ${row.totalS} s / ${row.downtimeMs ?? '-'} ms`, '']);
      }
      break;
    default:
      rows.push([r.benchmark, JSON.stringify(r).slice(0, 60), '']);
  }
}
console.log(`measured ${data.date} on ${data.machine.cores} × ${data.machine.cpu}, ${data.machine.memoryGiB} GiB, Linux ${data.machine.kernel}, Node ${data.machine.node}`);
console.log('| measure | result | goal |\n| --- | --- | --- |');
for (const [m, v, g] of rows) console.log(`| ${m} | ${v} | ${g} |`);
