// Prints scripts/bench's JSON results as one table (the README's benchmark table).
import { readFileSync } from 'node:fs';

interface Results {
  machine: { cpu: string; cores: number; memoryGiB: number; kernel: string; node: string };
  date: string;
  results: Array<Record<string, any>>;
}

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
      rows.push(['migration wall time, Ferry / virsh (median of ' + r.rounds + ')', `${r.ferryMs.median} / ${r.virshMs.median} ms = ${r.ratio}`, '<= 1.0']);
      rows.push(['bytes on the migration NIC (worst run)', `${r.migrationNicShare} %`, '>= 99 %']);
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
