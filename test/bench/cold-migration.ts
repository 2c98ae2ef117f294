// Cold migration of the same disk set lab1 → lab2, side by side in one run:
// Ferry (mode COLD: libvirt's volume streams over the agents' TLS data
// channel, holes never sent) against what OpenStack Nova does today, `rsync
// -S` over SSH, and against `scp`; each on the unshaped migration link and on
// one shaped to 1 Gbit/s by `tc`. A raw TCP stream between the same two
// addresses first shows what the link itself carries, and libvirt's own
// download of the same volumes into a file what libvirt's volume streams
// carry on this machine without any network. The disk set is a qcow2
// of 4 GiB virtual size with --written-mib MiB written, and a sparse 1 GiB
// raw disk with 20 MiB written.
//
// Figures: wall time (Migrate to COMPLETED, or the command's run), bytes on
// lab1's eth1 (headers included), the rate while the link was busy, that
// rate against raw TCP and against the line rate, and the peak RSS of either
// agent during Ferry's transfer.
//
//   node dist/test/bench/cold-migration.js [--written-mib 1200] [--rate-mbit 1000]
//
// The qdiscs, sshd and the copies are removed at the end, whatever happens.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unary } from '../../shared/client.js';
import { agent, closeAgents, watchToEnd } from '../support/ferry.js';
import { allocatedBytes, checksums, createColdGuest, mappedRaw, removeColdGuest, removeCopy, type ColdGuest } from '../support/cold-lab.js';
import { ensureLab, labExec, labHost, labSpawn, readLabState } from '../support/lab.js';
import { sleep } from '../support/wait.js';
import { arg, printSummary, round, runBenchmark, table } from './bench-support.js';
import { busyWindow, sampleNic, type BusyWindow } from './nic-sampler.js';
import { rawTcpStream } from './raw-tcp.js';
import { shapeNic } from '../support/link-shaping.js';

const WRITTEN_MIB = Number(arg('--written-mib', '1200'));
const RATE_MBIT = Number(arg('--rate-mbit', '1000'));
const FROM = 'lab1';
const TO = 'lab2';
const NIC = 'eth1';
const VM = 'bench-cold';
const SSH_DIR = '/var/lib/ferry-lab/bench-ssh';
const SSH_PORT = 2222;
const RAW_TCP_PORT = 49311; // outside Ferry's managed range: no pinhole needed
/** Where rsync and scp write on lab2 (emptied before each run: rsync would skip what is there). */
const COPY_DIR = '/var/lib/ferry-lab/bench-cold-copies';

interface Row {
  link: string;
  method: string;
  outcome: string;
  wallS: number;
  wireBytes: number;
  busy: BusyWindow | undefined;
  /** Peak VmRSS of lab1's and lab2's ferryd during the run (Ferry only). */
  rssMiB?: { source: number; destination: number };
}

const hostDir = (host: string) => readLabState().hosts.find((h) => h.name === host)!.dir;

async function shape(rateMbit: number): Promise<void> {
  for (const host of [FROM, TO]) await shapeNic(host, NIC, rateMbit);
}

/** Runs `work` while lab1's eth1 is sampled; the row's bytes and busy window come from it. */
async function measured(link: string, method: string, busyBits: number, work: () => Promise<string>): Promise<Row> {
  const sampler = await sampleNic(FROM, NIC);
  const started = Date.now();
  let outcome: string;
  try {
    outcome = await work();
  } catch (err) {
    outcome = `failed: ${(err instanceof Error ? err.message : String(err)).slice(0, 160)}`;
  }
  const wallS = (Date.now() - started) / 1000;
  await sleep(300);
  await sampler.stop();
  const first = sampler.samples[0]?.bytes ?? 0;
  const last = sampler.samples.at(-1)?.bytes ?? 0;
  return { link, method, outcome, wallS, wireBytes: last - first, busy: busyWindow(sampler.samples, busyBits) };
}

function rawTcp(link: string, busyBits: number): Promise<Row> {
  return rawTcpStream(FROM, TO, RAW_TCP_PORT, 4000, (send) =>
    measured(link, 'raw TCP, one stream (4 s)', busyBits, async () => {
      await send();
      return 'done';
    }),
  );
}

/** Peak VmRSS (MiB) of a lab host's ferryd, sampled every 200 ms until stopped. */
function sampleRss(host: string): { stop: () => number } {
  const pid = readFileSync(join(hostDir(host), 'ferryd.pid'), 'utf8').trim();
  let peak = 0;
  const timer = setInterval(() => {
    try {
      const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      peak = Math.max(peak, kib / 1024);
    } catch {
      // the agent restarting: no sample
    }
  }, 200);
  return {
    stop: () => {
      clearInterval(timer);
      return round(peak, 1);
    },
  };
}

async function ferry(link: string, busyBits: number, guest: ColdGuest): Promise<Row> {
  const rss = [sampleRss(FROM), sampleRss(TO)] as const;
  const row = await measured(link, 'Ferry (mode COLD)', busyBits, async () => {
    const accepted = await unary(agent(FROM).migration, 'Migrate', {
      vmId: guest.uuid,
      dst: labHost(TO).mgmtIp,
      dstqemu: labHost(TO).migIp,
      mode: 'MIGRATION_MODE_COLD',
      keepSource: true,
    });
    const final = (await watchToEnd(FROM, accepted.jobId)).at(-1)!;
    if (final.phase !== 'MIGRATION_PHASE_COMPLETED') throw new Error(`${final.phase}: ${final.error?.message ?? ''}`);
    return 'completed';
  });
  row.rssMiB = { source: rss[0].stop(), destination: rss[1].stop() };
  // The copy is checked once, then removed so the next run starts from the same state.
  const [want, got] = await Promise.all([checksums(FROM, [guest.qcow2, guest.raw]), checksums(TO, [guest.qcow2, mappedRaw(guest)])]);
  if (row.outcome === 'completed' && want.join() !== got.join()) row.outcome = 'completed, but the copies differ';
  await removeCopy(TO, guest);
  return row;
}

const SSH = [
  'ssh',
  '-i',
  `${SSH_DIR}/id`,
  '-p',
  String(SSH_PORT),
  '-o',
  'StrictHostKeyChecking=no',
  '-o',
  'UserKnownHostsFile=/dev/null',
  '-o',
  'LogLevel=ERROR',
];

async function startSshd(): Promise<() => void> {
  await labExec(FROM, [
    'sh',
    '-c',
    `rm -rf ${SSH_DIR} && mkdir -p ${SSH_DIR} /run/sshd && ssh-keygen -q -t ed25519 -N '' -f ${SSH_DIR}/host && ssh-keygen -q -t ed25519 -N '' -f ${SSH_DIR}/id && cp ${SSH_DIR}/id.pub ${SSH_DIR}/authorized_keys`,
  ]);
  await labExec(TO, ['mkdir', '-p', '/run/sshd']);
  const sshd = labSpawn(
    TO,
    [
      '/usr/sbin/sshd',
      '-D',
      '-e',
      '-p',
      String(SSH_PORT),
      '-h',
      `${SSH_DIR}/host`,
      '-o',
      `ListenAddress=${labHost(TO).migIp}`,
      '-o',
      `AuthorizedKeysFile=${SSH_DIR}/authorized_keys`,
      '-o',
      'StrictModes=no',
      '-o',
      'UsePAM=no',
      '-o',
      'PermitRootLogin=prohibit-password',
      '-o',
      `PidFile=${SSH_DIR}/sshd.pid`,
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 50; i++) {
    const r = await labExec(FROM, [...SSH, `root@${labHost(TO).migIp}`, 'true'], { allowFail: true });
    if (r.code === 0) return () => sshd.kill('SIGTERM');
    await sleep(200);
  }
  sshd.kill('SIGTERM');
  throw new Error(`sshd on ${TO} did not accept the benchmark's key`);
}

async function copyWith(link: string, method: 'rsync' | 'scp', busyBits: number, guest: ColdGuest): Promise<Row> {
  await labExec(TO, ['sh', '-c', `rm -rf ${COPY_DIR} && mkdir -p ${COPY_DIR}`]);
  const target = `root@${labHost(TO).migIp}:${COPY_DIR}/`;
  const argv =
    method === 'rsync'
      ? ['rsync', '-S', '-e', SSH.join(' '), guest.qcow2, guest.raw, target]
      : ['scp', ...SSH.slice(1).map((a) => (a === '-p' ? '-P' : a)), guest.qcow2, guest.raw, target];
  const row = await measured(link, method === 'rsync' ? 'rsync -S over SSH (Nova)' : 'scp', busyBits, async () => {
    await labExec(FROM, argv, { timeoutMs: 30 * 60_000 });
    return 'done';
  });
  const copies = [guest.qcow2, guest.raw].map((f) => `${COPY_DIR}/${f.split('/').pop()}`);
  const [want, got] = await Promise.all([checksums(FROM, [guest.qcow2, guest.raw]), checksums(TO, copies)]);
  if (row.outcome === 'done' && want.join() !== got.join()) row.outcome = 'done, but the copies differ';
  return row;
}

/**
 * libvirt alone: `virsh vol-download --sparse` of both volumes into a file on lab1 (page cache, as
 * the upload writes on lab2), the same virStorageVolDownload Ferry's source reads, without
 * network, TLS, checksum or upload. What any
 * transfer built on libvirt's volume streams can reach at most here; its Mbit/s is data bytes over
 * the wall time. Runs after Ferry's, whose first move left a pool over the raw disk's directory.
 */
async function libvirtDownload(link: string, guest: ColdGuest, written: number): Promise<Row> {
  const started = Date.now();
  let outcome = 'done';
  try {
    await labExec(FROM, ['sh', '-c', 'for p in $(virsh pool-list --name); do virsh -q pool-refresh "$p" >/dev/null; done']);
    for (const volume of [guest.qcow2, guest.raw]) {
      await labExec(FROM, ['virsh', '-q', 'vol-download', '--sparse', '--vol', volume, '--file', DOWNLOADED], { timeoutMs: 10 * 60_000 });
      await labExec(FROM, ['rm', '-f', DOWNLOADED]);
    }
  } catch (err) {
    outcome = `failed: ${(err instanceof Error ? err.message : String(err)).slice(0, 160)}`;
  }
  const wallS = (Date.now() - started) / 1000;
  return {
    link,
    method: LIBVIRT_ALONE,
    outcome,
    wallS,
    wireBytes: 0,
    busy: { bytes: written, seconds: wallS, bitsPerS: (written * 8) / wallS },
  };
}

const LIBVIRT_ALONE = "libvirt's download alone (virsh, into a file)";
/** virsh punches the holes of a sparse download into its output, which /dev/null refuses; the file is removed after each volume. */
const DOWNLOADED = `${COPY_DIR}-download`;

async function main(): Promise<void> {
  await ensureLab(2);
  for (const tool of ['/usr/sbin/sshd', '/usr/bin/rsync', '/usr/bin/scp']) {
    if ((await labExec(FROM, ['test', '-x', tool], { allowFail: true })).code !== 0)
      throw new Error(`${tool} is missing: run scripts/setup`);
  }
  const guest = await createColdGuest(FROM, VM, { writtenMiB: WRITTEN_MIB });
  const written = (await allocatedBytes(FROM, guest.qcow2)) + (await allocatedBytes(FROM, guest.raw));
  const rows: Row[] = [];
  const stopSshd = await startSshd();
  try {
    for (const rate of [0, RATE_MBIT]) {
      const link = rate ? `${rate} Mbit/s (tc)` : 'unshaped';
      // Busy: above a tenth of the line rate (or of 1 Gbit/s unshaped): set-up and hand-over are not the link's work.
      const busyBits = (rate || 1000) * 1e5;
      await shape(rate);
      rows.push(await rawTcp(link, busyBits));
      rows.push(await ferry(link, busyBits, guest));
      if (!rate) rows.push(await libvirtDownload(link, guest, written));
      rows.push(await copyWith(link, 'rsync', busyBits, guest));
      rows.push(await copyWith(link, 'scp', busyBits, guest));
    }
  } finally {
    await shape(0);
    stopSshd();
    await labExec(TO, ['rm', '-rf', COPY_DIR], { allowFail: true });
    await removeColdGuest([FROM, TO], guest);
    closeAgents();
  }

  const mbps = (r: Row) => (r.busy ? round(r.busy.bitsPerS / 1e6) : 0);
  const rawOf = (link: string) => rows.find((r) => r.link === link && r.method.startsWith('raw TCP'));
  console.log(
    `Cold migration ${FROM} → ${TO} of a qcow2 (4 GiB virtual, ${WRITTEN_MIB} MiB written) and a sparse raw disk (1 GiB, 20 MiB written): ${round(written / 2 ** 20)} MiB on disk`,
  );
  console.log(
    table(
      [
        'link',
        'method',
        'outcome',
        'wall s',
        'MiB on the wire',
        'wire / written',
        'Mbit/s busy',
        'of raw TCP',
        'of line rate',
        'RSS MiB src/dst',
      ],
      rows.map((r) => {
        const raw = rawOf(r.link);
        return [
          r.link,
          r.method,
          r.outcome,
          round(r.wallS, 1),
          round(r.wireBytes / 2 ** 20),
          r.method.startsWith('raw') || r.method === LIBVIRT_ALONE ? '-' : round(r.wireBytes / written, 2),
          mbps(r),
          raw && raw !== r ? round(mbps(r) / Math.max(1, mbps(raw)), 2) : '-',
          r.link.includes('tc') ? round(mbps(r) / RATE_MBIT, 2) : '-',
          r.rssMiB ? `${r.rssMiB.source}/${r.rssMiB.destination}` : '-',
        ];
      }),
    ),
  );
  console.log(
    "Mbit/s busy: bytes on lab1's eth1 (headers included) over the span the link was busy (libvirt's download alone: data bytes over its wall time, no network); wall s: Migrate to COMPLETED (Ferry, which also moves the definition) or the command's run.",
  );
  const pick = (link: string, method: string) => rows.find((r) => r.link === link && r.method.startsWith(method));
  const summaryOf = (link: string) => {
    const raw = pick(link, 'raw TCP');
    const entry = (method: string) => {
      const r = pick(link, method);
      return r
        ? {
            outcome: r.outcome,
            wallS: round(r.wallS, 1),
            wireMiB: round(r.wireBytes / 2 ** 20),
            mbps: mbps(r),
            ofRawTcp: round(mbps(r) / Math.max(1, raw ? mbps(raw) : 1), 2),
          }
        : undefined;
    };
    const alone = pick(link, LIBVIRT_ALONE);
    const ferryRow = pick(link, 'Ferry');
    return {
      rawTcpMbps: raw ? mbps(raw) : 0,
      ...(alone && ferryRow
        ? { libvirtDownloadMbps: mbps(alone), ferryOfLibvirtDownload: round(mbps(ferryRow) / Math.max(1, mbps(alone)), 2) }
        : {}),
      ferry: entry('Ferry'),
      rsync: entry('rsync'),
      scp: entry('scp'),
    };
  };
  const ferryRows = rows.filter((r) => r.rssMiB);
  printSummary({
    benchmark: 'cold-migration',
    writtenMiB: round(written / 2 ** 20),
    lineRateMbit: RATE_MBIT,
    unshaped: summaryOf('unshaped'),
    shaped: summaryOf(`${RATE_MBIT} Mbit/s (tc)`),
    peakRssMiB: Math.max(...ferryRows.flatMap((r) => [r.rssMiB!.source, r.rssMiB!.destination])),
  });
}

runBenchmark('cold-migration', main);
