// ferryd's Prometheus metrics on the lab, scraped from the engine's namespace
// on each host's management address: during a migration lab1 shows the
// running job's gauges (and lab2 its pinhole and reservation); after it the
// job's series are gone and the counters and histograms moved by exactly one
// job, with the bytes within 1 % of WatchMigration's final counters; the
// scrape passes `promtool check metrics`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { createVm, destroyVm, ensureLab } from '../support/lab.js';
import { agent, closeAgents, scrapeMetrics, waitForStatus, watchToEnd } from '../support/ferry.js';
import type { Scrape } from '../support/prometheus-text.js';
import { promtool } from '../support/promtool.js';
import { until } from '../support/wait.js';

const VM = 'e2e-metrics';

before(async () => {
  await ensureLab(2);
});

after(async () => {
  for (const host of ['lab1', 'lab2']) await destroyVm(host, VM);
  closeAgents();
});

/** A counter or histogram part, 0 while it has no series yet. */
function valueOr0(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  return scrape.find(name, labels).reduce((sum, s) => sum + s.value, 0);
}

function assertWithin1Percent(actual: number, expected: number, what: string): void {
  assert.ok(expected > 0, `${what}: WatchMigration says ${expected}`);
  const off = Math.abs(actual - expected) / expected;
  assert.ok(off <= 0.01, `${what}: the metrics say ${actual}, WatchMigration ${expected} (${(off * 100).toFixed(2)} % apart)`);
}

test('a migration: its gauges while it runs, then counters and histograms that match its final counters', async () => {
  const before1 = await scrapeMetrics('lab1');
  const before2 = await scrapeMetrics('lab2');
  // A guest that writes memory, with a bandwidth cap, so the copy lasts long enough for scrapes.
  const { uuid } = await createVm('lab1', VM, { memMiB: 384, dirtyMbps: 5 });
  const accepted = await unary(agent('lab1').migration, 'Migrate', {
    vmId: uuid,
    dst: '198.18.0.2',
    dstqemu: '198.19.0.2',
    policy: { maxBandwidthMibps: 20 },
  });
  const progress = watchToEnd('lab1', accepted.jobId);
  await waitForStatus('lab1', accepted.jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING');

  const job = { job_id: accepted.jobId, vm_id: uuid, mode: 'remote' };
  // libvirt's first job statistics of a copy may carry no bandwidth yet: wait for a scrape with both.
  const during = await until(
    'the running job gauges with data processed and a transfer rate',
    async () => {
      const scrape = await scrapeMetrics('lab1');
      const copying = ['ferry_migration_job_data_processed_bytes', 'ferry_migration_job_transfer_rate_bytes'].every(
        (name) => (scrape.find(name, job)[0]?.value ?? 0) > 0,
      );
      return copying ? scrape : undefined;
    },
    { timeoutMs: 60_000, everyMs: 250 },
  );
  assert.equal(during.value('ferry_migration_job_phase', { ...job, phase: 'migrating' }), 1);
  assert.ok(during.value('ferry_migration_job_data_total_bytes', job) > 0);
  assert.ok(during.value('ferry_migration_job_data_remaining_bytes', job) >= 0);
  assert.equal(during.find('ferry_migration_job_memory_dirty_rate_bytes', job).length, 1);
  assert.ok(during.value('ferry_migration_job_start_time_seconds', job) * 1000 <= Date.now());
  assert.ok(during.value('ferry_migration_jobs', { phase: 'migrating' }) >= 1);
  assert.equal(during.value('ferry_host_libvirt_up'), 1);
  assert.equal(during.find('ferry_host_migration_nic_up').find((s) => s.labels.nic !== '')?.value, 1, 'the migration NIC, up');
  const destination = await scrapeMetrics('lab2');
  assert.equal(destination.value('ferry_migration_incoming_reservations'), 1);
  assert.equal(valueOr0(destination, 'ferry_pinholes_opened_total') - valueOr0(before2, 'ferry_pinholes_opened_total'), 1);
  const checked = promtool(['check', 'metrics'], during.text);
  assert.ok(checked.ok, `promtool check metrics on lab1's scrape during the migration:\n${checked.output}`);

  const final = (await progress).at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  const after1 = await scrapeMetrics('lab1');
  assert.deepEqual(after1.find('ferry_migration_job_phase', { job_id: accepted.jobId }), [], 'the job series leave with the job');
  assert.deepEqual(after1.find('ferry_migration_job_data_processed_bytes', { job_id: accepted.jobId }), []);
  const delta = (name: string, labels: Record<string, string> = {}) => valueOr0(after1, name, labels) - valueOr0(before1, name, labels);
  assert.equal(delta('ferry_migration_finished_total', { mode: 'remote', result: 'completed' }), 1);
  assert.equal(delta('ferry_migration_duration_seconds_count', { mode: 'remote', result: 'completed' }), 1);
  assert.equal(delta('ferry_migration_downtime_seconds_count', { mode: 'remote' }), 1);
  assert.equal(delta('ferry_migration_iterations_count', { mode: 'remote' }), 1);
  assert.ok(delta('ferry_migration_iterations_sum', { mode: 'remote' }) >= 1);
  assert.equal(delta('ferry_migration_phase_duration_seconds_count', { mode: 'remote', phase: 'migrating' }), 1);
  assert.equal(delta('ferry_migration_vm_migrations_total', { vm_id: uuid }), 1);
  assert.ok(delta('ferry_grpc_calls_total', { method: '/ferry.v1.MigrationService/Migrate', code: 'OK' }) >= 1);
  assertWithin1Percent(
    delta('ferry_migration_data_processed_bytes_total', { mode: 'remote' }),
    final.data!.processedBytes,
    'data processed',
  );
  assertWithin1Percent(
    delta('ferry_migration_nic_bytes_sum', { nic: 'migration' }),
    final.bytesOnMigrationNic,
    'bytes on the migration NIC',
  );
  // The management NIC carries little (libvirt's control traffic): within 1 % of all the bytes the job moved.
  const management = delta('ferry_migration_nic_bytes_sum', { nic: 'management' });
  const all = final.bytesOnMigrationNic + final.bytesOnManagementNic;
  assert.ok(
    Math.abs(management - final.bytesOnManagementNic) <= 0.01 * all,
    `bytes on the management NIC: the metrics say ${management}, WatchMigration ${final.bytesOnManagementNic}`,
  );

  // The destination: its pinhole closed (FinishIncoming) or expired, each hole counted once.
  await until(
    "lab2's pinhole counted closed or expired",
    async () => {
      const now = await scrapeMetrics('lab2');
      const gone = (name: string) => valueOr0(now, name) - valueOr0(before2, name);
      return now.value('ferry_pinholes_open') === 0 && gone('ferry_pinholes_closed_total') + gone('ferry_pinholes_expired_total') === 1;
    },
    { timeoutMs: 30_000, everyMs: 250 },
  );
  const checkedAfter = promtool(['check', 'metrics'], after1.text);
  assert.ok(checkedAfter.ok, `promtool check metrics on lab1's scrape after the migration:\n${checkedAfter.output}`);
});
