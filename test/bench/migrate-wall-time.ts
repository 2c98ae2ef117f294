// Ferry's wall time for one live migration (Migrate call → COMPLETED seen by
// the client) against bare libvirt, on the same guest: `virsh migrate --live
// --p2p` and a libvirt-python script calling migrateToURI3
// (migrate_to_uri3.py), both with the P2P URI ferryd uses and a migrate URI
// on the migration network. The guest hops lab1 ⇄ lab2, the three tools taking
// turns so each crosses both ways; median and spread of N each. Also the
// share of the bytes Ferry saw on the migration NIC.
//
//   node dist/test/bench/migrate-wall-time.js [ROUNDS]
//
// Prints a table and, last, a JSON summary line (read by scripts/bench).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { unary } from '../../shared/client.js';
import { msFromProtoTime } from '../../shared/proto-time.js';
import { accelerator, createVm, destroyVm, ensureLab, labHost, REPO_ROOT } from '../support/lab.js';
import { agent, closeAgents, watchToEnd } from '../support/ferry.js';
import { median, printSummary, round, runBenchmark, spread, table } from './bench-support.js';

const run = promisify(execFile);
const ROUNDS = Number(process.argv[2] ?? 5);
const VM = 'bench-wall-time';
// Outside Ferry's managed range (49152-49215), so bare libvirt needs no pinhole.
const BARE_PORT = 49300;
const PYTHON_SCRIPT = join(REPO_ROOT, 'test', 'bench', 'migrate_to_uri3.py');
// Debian's interpreter, the one python3-libvirt installs for (a python3 earlier in PATH, e.g. pyenv's, lacks it).
const DEBIAN_PYTHON = '/usr/bin/python3';

type Tool = 'ferry' | 'virsh' | 'python';

interface FerryRun {
  ms: number;
  share: number;
  /**
   * libvirt's own job time (libvirt_elapsed): its perform phase only. The wall time of any
   * client also holds the P2P connection, the destination's Prepare (a QEMU process started)
   * and Finish/Confirm, so wall − this is not Ferry's own time; the difference to migrateToURI3 is.
   */
  libvirtJobMs: number;
  /** Migrate called → MIGRATING seen on the stream (perform follows at once). */
  toPerformMs: number;
}

async function ferryOnce(uuid: string, from: string, to: string): Promise<FerryRun> {
  const dst = labHost(to);
  const t0 = performance.now();
  let migratingAt: number | undefined;
  const { jobId } = await unary(agent(from).migration, 'Migrate', { vmId: uuid, dst: dst.mgmtIp, dstqemu: dst.migIp });
  const seen = await watchToEnd(from, jobId, (p) => {
    if (p.phase === 'MIGRATION_PHASE_MIGRATING') migratingAt ??= performance.now();
  });
  const ms = performance.now() - t0;
  const final = seen.at(-1);
  if (final?.phase !== 'MIGRATION_PHASE_COMPLETED') throw new Error(`Ferry migration ended ${final?.phase}: ${final?.error?.message}`);
  const libvirtMs = msFromProtoTime(final.libvirtElapsed);
  if (libvirtMs <= 0) throw new Error("COMPLETED without libvirt's job time (libvirt_elapsed)");
  return {
    ms,
    share: final.bytesOnMigrationNic / Math.max(1, final.bytesOnMigrationNic + final.bytesOnManagementNic),
    libvirtJobMs: libvirtMs,
    // The stream starts with the current phase, so MIGRATING is seen at the latest with the
    // first message after it begins; a job never seen MIGRATING counts whole.
    toPerformMs: (migratingAt ?? t0 + ms) - t0,
  };
}

/**
 * The P2P URI ferryd uses in the lab (libvirt.destination_uri's default), so all three pay the same
 * libvirt TLS, with the host's certificate from its /etc/pki (scripts/lab.d/pki.sh).
 */
function p2pUri(host: string): string {
  return `qemu+tls://${labHost(host).mgmtIp}/system`;
}

/** The whole `virsh` process, as an operator would time it. */
async function virshOnce(from: string, to: string): Promise<number> {
  const dst = labHost(to);
  const t0 = performance.now();
  await run('virsh', [
    '-c',
    labHost(from).libvirtUri,
    'migrate',
    '--live',
    '--p2p',
    '--persistent',
    '--undefinesource',
    VM,
    p2pUri(to),
    `tcp://${dst.migIp}:${BARE_PORT}`,
    '--listen-address',
    dst.migIp,
  ]);
  return performance.now() - t0;
}

/** The migrateToURI3 call alone (the script times it): no interpreter start, no connection set-up. */
async function pythonOnce(from: string, to: string): Promise<number> {
  const dst = labHost(to);
  const { stdout } = await run(DEBIAN_PYTHON, [
    PYTHON_SCRIPT,
    labHost(from).libvirtUri,
    VM,
    p2pUri(to),
    `tcp://${dst.migIp}:${BARE_PORT}`,
    dst.migIp,
  ]);
  const ms = Number(stdout.trim().split('\n').at(-1));
  if (!Number.isFinite(ms)) throw new Error(`migrate_to_uri3.py printed ${JSON.stringify(stdout)}`);
  return ms;
}

async function main(): Promise<void> {
  await ensureLab(2);
  for (const h of ['lab1', 'lab2']) await destroyVm(h, VM);
  const { uuid } = await createVm('lab1', VM);
  const times: Record<Tool, number[]> = { ferry: [], virsh: [], python: [] };
  const shares: number[] = [];
  const libvirtJob: number[] = [];
  const toPerform: number[] = [];
  const order: Tool[] = ['ferry', 'virsh', 'python'];
  let at = 'lab1';
  try {
    // Two untimed rounds first (each tool from each host): the first
    // migration out of a freshly started daemon pays its TLS connections to the
    // peer, seconds on a lab that has just come up.
    for (let i = -2 * order.length; i < ROUNDS * order.length; i++) {
      const tool = order[(i + 2 * order.length) % order.length]!;
      const to = at === 'lab1' ? 'lab2' : 'lab1';
      if (i < 0) {
        if (tool === 'ferry') await ferryOnce(uuid, at, to);
        else await (tool === 'virsh' ? virshOnce(at, to) : pythonOnce(at, to));
      } else if (tool === 'ferry') {
        const f = await ferryOnce(uuid, at, to);
        times.ferry.push(f.ms);
        shares.push(f.share);
        libvirtJob.push(f.libvirtJobMs);
        toPerform.push(f.toPerformMs);
      } else {
        times[tool].push(tool === 'virsh' ? await virshOnce(at, to) : await pythonOnce(at, to));
      }
      at = to;
    }
  } finally {
    for (const h of ['lab1', 'lab2']) await destroyVm(h, VM);
    closeAgents();
  }
  const ratio = (other: Tool) => round(median(times.ferry) / median(times[other]), 2);
  const summary = {
    benchmark: 'migrate-wall-time',
    guest: `disk-less 256 MiB ${accelerator('lab1')} guest, idle`,
    rounds: ROUNDS,
    ferryMs: spread(times.ferry),
    virshMs: spread(times.virsh),
    pythonMs: spread(times.python),
    ratio: ratio('virsh'),
    ratioPython: ratio('python'),
    migrationNicShare: round(Math.min(...shares) * 100, 2),
    // Ferry's own time: its median wall time minus the median of migrateToURI3 (the same libvirt
    // work, called directly), and the part before perform (Migrate → MIGRATING at the client:
    // validation, PrepareIncoming and the pinhole, the journal).
    ferryAddedMs: round(median(times.ferry) - median(times.python), 1),
    libvirtJobMs: spread(libvirtJob, 1),
    ferryBeforePerformMs: spread(toPerform, 1),
  };
  console.log(`wall time of one live migration, ${ROUNDS} each, taking turns lab1 ⇄ lab2 (ms)`);
  console.log(
    table(
      ['tool', 'runs', 'median', 'min', 'max', 'IQR', 'Ferry / tool'],
      [
        ['Ferry (Migrate → COMPLETED at the client)', times.ferry.map((x) => round(x)).join(' '), ...cells(summary.ferryMs), '1'],
        [
          'virsh migrate --live --p2p (whole process)',
          times.virsh.map((x) => round(x)).join(' '),
          ...cells(summary.virshMs),
          summary.ratio,
        ],
        [
          'python migrateToURI3 (the call alone)',
          times.python.map((x) => round(x)).join(' '),
          ...cells(summary.pythonMs),
          summary.ratioPython,
        ],
      ],
    ),
  );
  console.log(
    `Ferry's own time: median wall time − migrateToURI3's, ${summary.ferryAddedMs} ms; before perform ` +
      `(Migrate → MIGRATING seen) median ${round(median(toPerform), 1)} ms (runs ${toPerform.map((x) => round(x, 1)).join(' ')}); ` +
      `libvirt's job time (perform phase only) median ${summary.libvirtJobMs.median} ms`,
  );
  console.log(
    `ratio Ferry/virsh ${summary.ratio}, Ferry/python ${summary.ratioPython} (goal <= 1.0); bytes on the migration NIC >= ${summary.migrationNicShare} % (goal >= 99 %)`,
  );
  printSummary(summary);
}

function cells(s: { median: number; min: number; max: number; iqr: number }): number[] {
  return [s.median, s.min, s.max, s.iqr];
}

runBenchmark('migrate-wall-time', main);
