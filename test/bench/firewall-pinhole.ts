/**
 * How long opening and closing one pinhole takes with each backend, nftables
 * and iptables side by side, with no other hole present and with 64 present
 * (p50, p95, p99). Goals: iptables under 20 ms; nftables p99 under 5 ms.
 *
 *   node dist/test/bench/firewall-pinhole.js [--iterations N]
 *
 * It never touches the firewall of the namespace it is started in: it brings
 * the lab up (3 hosts) and re-runs itself inside lab3 with --here, where it
 * installs Ferry's chain (or table), measures, and uninstalls it again.
 */
import { execFileSync } from 'node:child_process';
import { hostname, networkInterfaces } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFirewall } from '../../agent/firewall/index.js';
import type { Pinhole } from '../../agent/firewall/firewall.js';
import { insideLabHost, insidePrivateNetns } from '../support/inside-lab-host.js';
import { arg, percentile, printSummary, round, table } from './bench-support.js';

const ITERATIONS = Number(arg('--iterations', '50'));
/** 128 ports, so that one more hole fits next to 64 open ones. */
const RANGE = { first: 49152, last: 49279 };
const PRESENT = 64;

interface Row {
  backend: Backend;
  operation: string;
  present: string;
  samples: number[];
}

function stats(xs: number[]): { p50: number; p95: number; p99: number; max: number } {
  return { p50: percentile(xs, 50), p95: percentile(xs, 95), p99: percentile(xs, 99), max: Math.max(...xs) };
}

type Backend = 'nftables' | 'iptables' | 'none';
const GOAL_MS: Record<Backend, { stat: 'p50' | 'p99'; ms: number } | undefined> = {
  nftables: { stat: 'p99', ms: 5 },
  iptables: { stat: 'p50', ms: 20 },
  none: undefined,
};

function rowsTable(rows: Row[]): string {
  return table(
    ['backend', 'operation', 'holes present', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'],
    rows.map((r) => {
      const s = stats(r.samples);
      return [r.backend, r.operation, r.present, r.samples.length, s.p50.toFixed(1), s.p95.toFixed(1), s.p99.toFixed(1), s.max.toFixed(1)];
    }),
  );
}

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

async function measure(backend: Backend, dst: string, src: string): Promise<Row[]> {
  const fw = createFirewall({ backend, portRange: RANGE, families: ['ipv4'] });
  const rows: Row[] = [];
  const row = (operation: string, present: string, samples: number[]) => rows.push({ backend, operation, present, samples });
  const req = (jobId: string) => ({ vmId: 'vm-bench', jobId, source: src, destination: dst, ttlMs: 60_000 });
  try {
    await fw.uninstall();
    const [install] = await time(() => fw.reconcile());
    if (backend !== 'none') row(backend === 'iptables' ? 'install chain + jump (reconcile)' : 'install table (reconcile)', '0', [install]);
    // One untimed open and close first, as the other benchmarks warm up: the
    // nftables backend's first change waits for its nft -i session to start,
    // which ferryd begins at its start-up reconcile, long before a migration.
    const warm = await fw.open(req('warm-up'));
    await fw.close(warm.id);

    const cycle = async (present: string) => {
      const open: number[] = [];
      const close: number[] = [];
      for (let i = 0; i < ITERATIONS; i++) {
        const [o, hole] = await time(() => fw.open(req(`cycle-${i}`)));
        const [c] = await time(() => fw.close(hole.id));
        open.push(o);
        close.push(c);
      }
      row('open one pinhole', present, open);
      row('close one pinhole', present, close);
    };
    await cycle('0');

    const [openAll, held] = await time(() => Promise.all(Array.from({ length: PRESENT }, (_, i) => fw.open(req(`held-${i}`)))));
    await cycle(String(PRESENT));
    if (backend !== 'none') {
      const rec: number[] = [];
      for (let i = 0; i < 10; i++) rec.push((await time(() => fw.reconcile()))[0]);
      row('reconcile, nothing to change', String(PRESENT), rec);
    }
    const [closeAll] = await time(() => Promise.all(held.map((h: Pinhole) => fw.close(h.id))));
    row(`open ${PRESENT} concurrently (total)`, `0 -> ${PRESENT}`, [openAll]);
    row(`close ${PRESENT} concurrently (total)`, `${PRESENT} -> 0`, [closeAll]);
  } finally {
    await fw.uninstall();
  }
  return rows;
}

async function here(): Promise<void> {
  if (!insideLabHost() && !insidePrivateNetns()) {
    throw new Error(`refusing to touch the firewall of ${hostname()}: run without --here, and it re-runs itself in lab3`);
  }
  const mine = Object.values(networkInterfaces())
    .flat()
    .map((i) => i?.address ?? '')
    .filter((a) => a.startsWith('198.19.0.'));
  const dst = arg('--dst', mine[0] ?? '');
  if (!dst) throw new Error('no 198.19.0.x address here: give --dst');
  const src = arg('--src', dst === '198.19.0.2' ? '198.19.0.1' : '198.19.0.2');
  const version = execFileSync('iptables-restore', ['--version']).toString().trim();
  const nftVersion = execFileSync('nft', ['--version']).toString().trim();

  const rows = [...(await measure('nftables', dst, src)), ...(await measure('iptables', dst, src)), ...(await measure('none', dst, src))];
  console.log(
    `Ferry firewall pinholes: ${nftVersion}; ${version}; ${dst} <- ${src}; range ${RANGE.first}-${RANGE.last}; n=${ITERATIONS} per cycle`,
  );
  console.log(rowsTable(rows));
  const cycles = rows.filter((r) => r.backend !== 'none' && /^(open|close) one/.test(r.operation));
  const verdict = cycles.map((r) => {
    const goal = GOAL_MS[r.backend]!;
    const value = stats(r.samples)[goal.stat];
    return `${r.backend} ${r.operation.split(' ')[0]}@${r.present}: ${goal.stat} ${value.toFixed(1)} ms ${value < goal.ms ? 'ok' : 'OVER'}`;
  });
  console.log(`goals (nftables p99 < 5 ms, iptables p50 < 20 ms): ${verdict.join(', ')}`);
  const operations = cycles.map((r) => ({
    backend: r.backend,
    operation: r.operation.split(' ')[0],
    present: r.present,
    p50: round(stats(r.samples).p50, 1),
    p95: round(stats(r.samples).p95, 1),
    p99: round(stats(r.samples).p99, 1),
    goal: r.backend === 'nftables' ? 'p99 < 5 ms' : '< 20 ms',
  }));
  printSummary({ benchmark: 'firewall-pinhole', iptables: version, nft: nftVersion, operations });
}

async function viaLab(): Promise<number> {
  const { ensureLab, labSpawn, REPO_ROOT } = await import('../support/lab.js');
  const { ferryd } = await import('../support/ferry.js');
  await ensureLab(3);
  // lab3's own agent owns the same chain or table: stop it while the benchmark does.
  await ferryd('stop', 'lab3');
  try {
    const self = relative(REPO_ROOT, fileURLToPath(import.meta.url));
    const child = labSpawn('lab3', ['node', self, '--here', ...process.argv.slice(2)], { cwd: REPO_ROOT, stdio: 'inherit' });
    return await new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  } finally {
    await ferryd('start', 'lab3');
  }
}

if (process.argv.includes('--here')) {
  here().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  viaLab().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
