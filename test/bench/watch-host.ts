// Benchmark: WatchHost under load. 8 migrations run lab2 → lab3 (guests dirtying memory faster
// than the capped bandwidth sends it, so they last until cancelled at the end), while a guest on lab1 is suspended and resumed 500 times with virsh (1,000 lifecycle
// changes). A watcher on lab1's agent counts them (none may be lost: no RESYNC, consecutive
// revisions), and each one's latency is measured from libvirt's own timestamp of the event
// as `virsh event --loop --timestamp` (a bare libvirt client on the same host and clock) reports
// it, to the watcher receiving it: a negative value is an event the watcher had before virsh
// printed it. The upper bound, from just before the `virsh suspend|resume` command started
// (so it includes spawning virsh and its connection), is printed too.
//
//   node dist/test/bench/watch-host.js [--cycles 500] [--bandwidth 1] [--dirty-mbps 16]
//
// Goal: p99 latency < 100 ms; lost events 0. Prints the numbers and a JSON summary line.
import { spawn } from 'node:child_process';
import { unary } from '../../shared/client.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import { agent, closeAgents } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, labHost, virsh } from '../support/lab.js';
import { HostWatch, consecutive } from '../support/host-watch.js';
import { until } from '../support/wait.js';
import { arg, percentile, printSummary, round, runBenchmark } from './bench-support.js';

const CYCLES = Number(arg('--cycles', '500'));
const BANDWIDTH = Number(arg('--bandwidth', '1'));
const DIRTY_MBPS = Number(arg('--dirty-mbps', '16'));
const MIGRATIONS = 8;
const HOUR = protoTimeFromMs(3_600_000);
const GUEST = 'bench-watch-host';
const movers = Array.from({ length: MIGRATIONS }, (_, i) => `bench-watch-mover-${i}`);

async function main(): Promise<void> {
  await ensureLab(3);
  const { uuid } = await createVm('lab1', GUEST);
  const moverIds = await Promise.all(movers.map((name) => createVm('lab2', name, { memMiB: 256, dirtyMbps: DIRTY_MBPS })));
  await unary(agent('lab2').migration, 'SetMigrationLimits', { maxOutgoing: MIGRATIONS });
  await unary(agent('lab3').migration, 'SetMigrationLimits', { maxIncoming: MIGRATIONS });

  // libvirt's time of each lifecycle event of the guest, from an independent listener.
  const libvirtTimes: number[] = [];
  const listener = spawn('virsh', [
    '-c',
    labHost('lab1').libvirtUri,
    'event',
    '--domain',
    GUEST,
    '--event',
    'lifecycle',
    '--loop',
    '--timestamp',
  ]);
  let pending = '';
  listener.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      // "2026-12-03 19:05:16.123+0000: event 'lifecycle' for domain 'x': Suspended Paused"
      const stamp = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})\+0000:/.exec(line);
      if (stamp && /(Suspended|Resumed)/.test(line)) libvirtTimes.push(Date.parse(`${stamp[1]}T${stamp[2]}Z`));
    }
  });
  const watch = new HostWatch('lab1');
  try {
    await watch.waitFor('a snapshot', (w) => w.messages[0]?.snapshot != null);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // virsh event registered
    for (const { uuid: vmId } of moverIds) {
      await unary(agent('lab2').migration, 'Migrate', {
        vmId,
        dst: '198.18.0.3',
        dstqemu: '198.19.0.3',
        // Neither timeout may end them while the lifecycle changes run (minutes on a loaded machine).
        policy: { maxBandwidthMibps: BANDWIDTH, completionTimeoutPerGib: HOUR, stallTimeout: HOUR },
      });
    }
    const started = Date.now();
    const commandStarts: number[] = [];
    const activeDuringCycles: number[] = [];
    for (let i = 0; i < CYCLES; i++) {
      if (i % 50 === 0) activeDuringCycles.push(await activeMigrations());
      for (const command of ['suspend', 'resume']) {
        commandStarts.push(Date.now());
        await virsh('lab1', command, GUEST);
      }
    }
    const activeAtEnd = await activeMigrations();
    const expected = 2 * CYCLES;
    await until('every lifecycle change at the watcher', () => watch.vmEvents(uuid).length >= expected, { timeoutMs: 60_000 }).catch(
      () => undefined,
    );
    await until('every lifecycle change at virsh event', () => libvirtTimes.length >= expected, { timeoutMs: 10_000 }).catch(
      () => undefined,
    );
    const received = watch.messages.filter((m) => m.vm?.vmId === uuid).map((m) => m.receivedAt);
    const latencies = received.slice(0, libvirtTimes.length).map((at, i) => at - (libvirtTimes[i] ?? at));
    const fromCommand = received.slice(0, commandStarts.length).map((at, i) => at - (commandStarts[i] ?? at));
    const summary = {
      benchmark: 'watch-host',
      lifecycle_changes: expected,
      seen_by_watcher: received.length,
      seen_by_virsh_event: libvirtTimes.length,
      lost: expected - received.length,
      resyncs: watch.messages.filter((m) => m.resync).length,
      revisions_consecutive: consecutive([watch.messages[0]?.revision ?? -1, ...watch.eventRevisions()]),
      latency_p50_ms: round(percentile(latencies, 0.5), 1),
      latency_p99_ms: round(percentile(latencies, 0.99), 1),
      latency_max_ms: round(Math.max(...latencies), 1),
      from_command_start_p99_ms: round(percentile(fromCommand, 0.99), 1),
      migrations_running_min: Math.min(...activeDuringCycles, activeAtEnd),
      migrations_still_running_at_end: activeAtEnd,
      seconds: round((Date.now() - started) / 1000, 1),
    };
    console.log(`${summary.seen_by_watcher}/${expected} lifecycle changes seen (lost ${summary.lost}, RESYNC ${summary.resyncs});`);
    console.log(
      `latency libvirt → watcher: p50 ${summary.latency_p50_ms} ms, p99 ${summary.latency_p99_ms} ms (goal < 100), max ${summary.latency_max_ms} ms`,
    );
    console.log(`upper bound, from the start of the virsh command: p99 ${summary.from_command_start_p99_ms} ms`);
    console.log(
      `migrations running during the changes: at least ${summary.migrations_running_min} of ${MIGRATIONS} (lower --bandwidth or raise --dirty-mbps if fewer)`,
    );
    printSummary(summary);
  } finally {
    watch.close();
    listener.kill();
  }
}

async function activeMigrations(): Promise<number> {
  return (await unary(agent('lab2').migration, 'ListMigrations', { activeOnly: true })).jobs.length;
}

async function cleanup(): Promise<void> {
  await destroyVm('lab1', GUEST).catch(() => undefined);
  for (const name of movers) await destroyVm('lab2', name).catch(() => undefined);
  closeAgents();
}

runBenchmark('watch-host', main, () => void cleanup());
