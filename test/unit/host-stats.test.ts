// Host stats: NIC byte rates over the sampling interval (with a fake clock),
// memory and CPU from the probe, migration counts from the migration port, and
// background sampling (every interval, until stopped, never keeping the process up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { HostStatsCollector, MIN_WINDOW_MS } from '../../agent/host/stats.js';
import type { MigrationActivity, MigrationCounts } from '../../agent/host/host-facts.js';
import type { NicCounters, SystemProbe } from '../../agent/host/system-probe.js';
import { sleep, until } from '../support/wait.js';

function setup() {
  let now = 1_700_000_000_000;
  let counters: NicCounters[] = [
    { name: 'eth0', rxBytes: 1000, txBytes: 2000 },
    { name: 'eth1', rxBytes: 0, txBytes: 0 },
  ];
  let counts: MigrationCounts = { outgoing: 0, incoming: 0, queued: 0 };
  let samples = 0;
  const system: SystemProbe = {
    cpu: async () => assert.fail('not used'),
    memory: async () => ({ totalBytes: 64e9, usedBytes: 10e9, availableBytes: 50e9 }),
    nics: async () => [],
    nicCounters: async () => {
      samples++;
      return counters.map((c) => ({ ...c }));
    },
    cpuPercent: async () => 42.5,
    kvmAvailable: async () => true,
  };
  const migrations: MigrationActivity = { counts: () => counts, isMigrating: () => false, pausedInPostcopy: () => [] };
  const collector = new HostStatsCollector(system, migrations, () => now);
  return {
    collector,
    advance: (ms: number) => (now += ms),
    setCounters: (c: NicCounters[]) => (counters = c),
    setCounts: (c: MigrationCounts) => (counts = c),
    now: () => now,
    samples: () => samples,
  };
}

test('the first sample has counters and zero rates; the next interval gives bytes per second', async () => {
  const s = setup();
  const first = await s.collector.stats();
  assert.equal(first.time, s.now());
  assert.equal(first.cpuPercent, 42.5);
  assert.deepEqual([first.memoryTotalBytes, first.memoryUsedBytes, first.memoryAvailableBytes], [64e9, 10e9, 50e9]);
  assert.deepEqual(first.nics[0], { name: 'eth0', rxBytes: 1000, txBytes: 2000, rxBytesPerS: 0, txBytesPerS: 0 });

  s.advance(2000);
  s.setCounters([
    { name: 'eth0', rxBytes: 3000, txBytes: 2000 },
    { name: 'eth1', rxBytes: 250e6, txBytes: 2_500_000_000 },
  ]);
  const second = await s.collector.stats();
  assert.deepEqual(second.nics, [
    { name: 'eth0', rxBytes: 3000, txBytes: 2000, rxBytesPerS: 1000, txBytesPerS: 0 },
    { name: 'eth1', rxBytes: 250e6, txBytes: 2_500_000_000, rxBytesPerS: 125e6, txBytesPerS: 1_250_000_000 },
  ]);
});

test('a sample sooner than the minimum window keeps the last rates and the window open', async () => {
  const s = setup();
  await s.collector.stats();
  s.advance(1000);
  s.setCounters([{ name: 'eth0', rxBytes: 2000, txBytes: 2000 }]);
  assert.equal((await s.collector.stats()).nics[0]!.rxBytesPerS, 1000);
  s.advance(MIN_WINDOW_MS / 2);
  s.setCounters([{ name: 'eth0', rxBytes: 100_000, txBytes: 2000 }]);
  const early = await s.collector.stats();
  assert.equal(early.nics[0]!.rxBytes, 100_000, 'counters are always fresh');
  assert.equal(early.nics[0]!.rxBytesPerS, 1000, 'the rate is the last full interval');
  s.advance(MIN_WINDOW_MS / 2);
  assert.equal((await s.collector.stats()).nics[0]!.rxBytesPerS, 98_000);
});

test('a counter that went backwards (NIC re-created) gives 0, a new NIC has no rate yet', async () => {
  const s = setup();
  await s.collector.stats();
  s.advance(1000);
  s.setCounters([
    { name: 'eth0', rxBytes: 10, txBytes: 10 },
    { name: 'vnet0', rxBytes: 5000, txBytes: 5000 },
  ]);
  const stats = await s.collector.stats();
  assert.deepEqual(
    stats.nics.map((n) => [n.name, n.rxBytesPerS, n.txBytesPerS]),
    [
      ['eth0', 0, 0],
      ['vnet0', 0, 0],
    ],
  );
});

test('migration counts come from the migration port', async () => {
  const s = setup();
  s.setCounts({ outgoing: 2, incoming: 1, queued: 3 });
  const stats = await s.collector.stats();
  assert.deepEqual([stats.outgoingMigrations, stats.incomingMigrations, stats.queuedMigrations], [2, 1, 3]);
});

test('background sampling reads the counters every interval, and stop() ends it', async () => {
  const s = setup();
  s.collector.start(10);
  await until('three samples', () => s.samples() >= 3, { timeoutMs: 2000 });
  s.collector.stop();
  const atStop = s.samples();
  await sleep(60);
  assert.equal(s.samples(), atStop, 'no sample after stop()');
});

test('background sampling does not keep the process alive', () => {
  // A process whose only other timer ends after 200 ms: it exits by itself once
  // that fires, having sampled meanwhile, only if the sampling timer is unref'd.
  const stats = new URL('../../agent/host/stats.js', import.meta.url).href;
  const script = `
    const { HostStatsCollector } = await import(${JSON.stringify(stats)});
    let samples = 0;
    const system = { nicCounters: async () => { samples++; return []; } };
    const migrations = { counts: () => ({ outgoing: 0, incoming: 0, queued: 0 }), isMigrating: () => false, pausedInPostcopy: () => [] };
    new HostStatsCollector(system, migrations).start(10);
    setTimeout(() => console.log(samples), 200);
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(child.signal, null, 'the process did not exit by itself: the sampling timer keeps it alive');
  assert.equal(child.status, 0, child.stderr);
  assert.ok(Number(child.stdout) >= 3, `it sampled in the background before exiting (samples: ${child.stdout.trim()})`);
});
