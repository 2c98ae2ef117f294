// The migration metrics fed by the real core over in-memory ports: per-job
// gauges while a job runs and gone after it, then the counters and
// histograms (outcome, bytes, phase times, per-VM count), the outcome
// reasons of Ferry's own aborts, and convergence actions counted once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentMetrics } from '../../agent/telemetry/metrics/index.js';
import { outcomeOf } from '../../agent/telemetry/metrics/migration-outcomes.js';
import type { MigrationStatus } from '../../agent/migration/index.js';
import { MigrationJob } from '../../agent/migration/jobs/migration-job.js';
import { FerryError } from '../../shared/errors.js';
import { FakeHypervisor, FakeNetwork, FakePeers, FakePinholes, stats } from '../support/fake-ports.js';
import { finalOf, outgoingMigrations, remoteCommand } from '../support/migration-fixtures.js';
import { parseScrape, type Scrape } from '../support/prometheus-text.js';
import { until } from '../support/wait.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';

function setup() {
  const hypervisor = new FakeHypervisor();
  const network = new FakeNetwork();
  const peers = new FakePeers();
  let metrics: AgentMetrics | undefined;
  const migrations = outgoingMigrations({
    hypervisor,
    network,
    peers,
    onTransition: (s, previous) => metrics?.jobTransition(s, previous),
  });
  metrics = new AgentMetrics({
    runningJobs: () => migrations.list(true),
    incomingReservations: () => 0,
    limits: () => ({ maxOutgoing: 2, maxIncoming: 3 }),
    libvirtConnected: () => true,
    migrationNic: () => ({ name: 'eth1', up: true }),
  });
  const scrape = async (): Promise<Scrape> => parseScrape(await metrics.registry.metrics());
  return { hypervisor, network, migrations, metrics, scrape };
}

test('a running job has its gauges, labelled by job and VM; after it ends they are gone and the outcome is counted', async () => {
  const { hypervisor, network, migrations, scrape } = setup();
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(remoteCommand(VM));
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.current = stats(100, 300, { dirtyRateBytesPerS: 7_000, bandwidthBytesPerS: 9_000, iteration: 2 });
  await until('progress', () => migrations.status({ jobId }).data.processed === 100);

  const during = await scrape();
  const job = { job_id: jobId, vm_id: VM, mode: 'remote' };
  assert.equal(during.value('ferry_migration_job_data_processed_bytes', job), 100);
  assert.equal(during.value('ferry_migration_job_data_remaining_bytes', job), 300);
  assert.equal(during.value('ferry_migration_job_data_total_bytes', job), 400);
  assert.equal(during.value('ferry_migration_job_memory_dirty_rate_bytes', job), 7_000);
  assert.equal(during.value('ferry_migration_job_transfer_rate_bytes', job), 9_000);
  assert.equal(during.value('ferry_migration_job_iteration', job), 2);
  assert.equal(during.value('ferry_migration_job_progress_ratio', job), 0.25);
  assert.equal(during.value('ferry_migration_job_phase', { ...job, phase: 'migrating' }), 1);
  assert.equal(during.value('ferry_migration_jobs', { phase: 'migrating' }), 1);
  assert.equal(during.value('ferry_migration_jobs', { phase: 'queued' }), 0);
  assert.equal(during.value('ferry_migration_started_total', { mode: 'remote' }), 1);
  assert.ok(
    during.find('ferry_migration_finished_total').every((s) => s.value === 0),
    'nothing finished yet',
  );
  // The series alerts wait for are there at 0 before anything happens.
  assert.equal(during.value('ferry_migration_finished_total', { mode: 'remote', result: 'failed', reason: 'completion_timeout' }), 0);
  assert.equal(during.value('ferry_migration_vm_migrations_total', { vm_id: VM }), 0, 'the VM series exists once its job is accepted');

  network.tx.set('eth1', 5_000_000);
  network.tx.set('eth0', 1_000);
  hypervisor.complete(VM);
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'completed');

  const after = await scrape();
  for (const name of ['ferry_migration_job_data_processed_bytes', 'ferry_migration_job_phase', 'ferry_migration_job_start_time_seconds']) {
    assert.deepEqual(after.find(name), [], `${name} removed with the job`);
  }
  assert.ok(!after.samples.some((s) => s.labels.job_id !== undefined), 'no series keeps a job id');
  assert.equal(after.value('ferry_migration_finished_total', { result: 'completed', reason: 'none', mode: 'remote' }), 1);
  assert.equal(after.value('ferry_migration_data_processed_bytes_total', { mode: 'remote' }), final.data.processed);
  assert.equal(after.value('ferry_migration_nic_bytes_sum', { nic: 'migration' }), 5_000_000);
  assert.equal(after.value('ferry_migration_nic_bytes_sum', { nic: 'management' }), 1_000);
  assert.equal(after.value('ferry_migration_nic_bytes_count', { nic: 'migration' }), 1);
  assert.equal(after.value('ferry_migration_iterations_sum', { mode: 'remote' }), 3);
  assert.equal(after.value('ferry_migration_duration_seconds_count', { mode: 'remote', result: 'completed' }), 1);
  assert.equal(after.value('ferry_migration_vm_migrations_total', { vm_id: VM }), 1);
  // Each phase left is timed once: preparing and migrating.
  assert.equal(after.value('ferry_migration_phase_duration_seconds_count', { mode: 'remote', phase: 'preparing' }), 1);
  assert.equal(after.value('ferry_migration_phase_duration_seconds_count', { mode: 'remote', phase: 'migrating' }), 1);
  assert.deepEqual(after.find('ferry_migration_phase_duration_seconds_count', { phase: 'completed' }), []);
  assert.equal(after.value('ferry_migration_jobs', { phase: 'migrating' }), 0);
});

test('histograms have the fixed buckets, cumulative, ending in +Inf', async () => {
  const { scrape } = setup();
  const page = await scrape();
  assert.equal(page.types.get('ferry_migration_downtime_seconds'), 'histogram');
  assert.equal(page.types.get('ferry_migration_finished_total'), 'counter');
  assert.equal(page.types.get('ferry_migration_job_data_remaining_bytes'), 'gauge');
  const { hypervisor, migrations, scrape: scrapeAgain } = setup();
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(remoteCommand(VM));
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.complete(VM);
  await finalOf(migrations, jobId);
  const buckets = (await scrapeAgain()).find('ferry_migration_iterations_bucket', { mode: 'remote' });
  assert.deepEqual(
    buckets.map((b) => b.labels.le),
    ['1', '2', '3', '5', '8', '13', '21', '34', '55', '100', '+Inf'],
  );
  // 3 iterations: in every bucket from le=3 on.
  assert.deepEqual(
    buckets.map((b) => b.value),
    [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
  );
});

test('a failed job is counted by the error kind and step, and not per VM', async () => {
  const { hypervisor, migrations, scrape } = setup();
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(remoteCommand(VM));
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.failMigration(VM, new FerryError('UNAVAILABLE', 'the destination went away'));
  const final = await finalOf(migrations, jobId);
  assert.equal(final.phase, 'failed');
  const page = await scrape();
  assert.equal(page.value('ferry_migration_finished_total', { result: 'failed', reason: 'unavailable' }), 1);
  assert.equal(page.value('ferry_migration_failed_steps_total', { mode: 'remote', step: 'perform' }), 1);
  assert.equal(page.value('ferry_migration_vm_migrations_total', { vm_id: VM }), 0, 'a failed migration does not count');
  assert.deepEqual(page.find('ferry_migration_nic_bytes_count'), [], 'only completed migrations have bytes');
});

/** A finished status as the core gives it, altered for one case. */
function finished(extra: Partial<MigrationStatus>): MigrationStatus {
  return {
    jobId: 'j',
    vmId: VM,
    mode: 'remote',
    phase: 'failed',
    convergence: [],
    error: { step: 'converge', message: '', kind: 'DEADLINE_EXCEEDED' },
    ...extra,
  } as MigrationStatus;
}

test("Ferry's own aborts are told apart: completion timeout, stall timeout, the schedule", () => {
  const abort = (reason: string) => [{ action: 'abort' as const, iteration: 3, elapsedMs: 1000, reason }];
  assert.deepEqual(outcomeOf(finished({ convergence: abort('completion timeout') })), {
    result: 'failed',
    reason: 'completion_timeout',
    step: 'converge',
  });
  assert.equal(outcomeOf(finished({ convergence: abort('stall timeout') }))?.reason, 'stall_timeout');
  assert.equal(outcomeOf(finished({ convergence: abort('schedule step 3 (after iteration 5)') }))?.reason, 'schedule_abort');
  // An abort on the trail but a failure elsewhere (libvirt failed before the abort took): the error's kind.
  assert.equal(
    outcomeOf(finished({ convergence: abort('completion timeout'), error: { step: 'perform', message: '', kind: 'INTERNAL' } }))?.reason,
    'internal',
  );
  assert.deepEqual(outcomeOf(finished({ phase: 'cancelled', error: { step: 'queue', message: '', kind: 'CANCELLED' } })), {
    result: 'cancelled',
    reason: 'cancelled',
    step: 'queue',
  });
  assert.equal(outcomeOf(finished({ phase: 'migrating' })), undefined);
  assert.equal(outcomeOf(finished({ error: { step: 'a step with spaces', message: '', kind: 'INTERNAL' } }))?.step, 'other');
});

test('convergence actions are counted as they happen (at a scrape) and once; post-copy switches too; a restored finished job is not counted again', async () => {
  let running: MigrationStatus[] = [];
  const metrics = new AgentMetrics({
    runningJobs: () => running,
    incomingReservations: () => 0,
    limits: () => ({ maxOutgoing: 2, maxIncoming: 2 }),
    libvirtConnected: () => true,
    migrationNic: () => ({ name: '', up: false }),
  });
  const scrape = async () => parseScrape(await metrics.registry.metrics());
  const base = new MigrationJob('j1', remoteCommand(VM), Date.now, 'preparing').snapshot();
  const record = {
    action: 'set-downtime' as const,
    iteration: 2,
    elapsedMs: 10,
    reason: 'schedule step 1 (after iteration 2)',
    downtimeMs: 500,
  };
  const withOne = { ...base, phase: 'migrating' as const, convergence: [record] };
  metrics.jobTransition(base, null);
  metrics.jobTransition({ ...base, phase: 'migrating' }, 'preparing');
  running = [withOne];
  const actions = { action: 'set-downtime', trigger: 'schedule' };
  assert.equal((await scrape()).value('ferry_migration_convergence_actions_total', actions), 1, 'counted while the job runs');
  metrics.jobTransition({ ...withOne, phase: 'postcopy' }, 'migrating');
  let page = await scrape();
  assert.equal(page.value('ferry_migration_convergence_actions_total', actions), 1, 'not again at the next transition or scrape');
  assert.equal(page.value('ferry_migration_postcopy_switches_total'), 1);
  running = [];
  metrics.jobTransition({ ...withOne, phase: 'completed', finishedAt: Date.now() }, 'postcopy');
  metrics.jobTransition({ ...withOne, jobId: 'j2', phase: 'completed', finishedAt: Date.now() }, null);
  page = await scrape();
  assert.equal(page.value('ferry_migration_convergence_actions_total', actions), 1);
  assert.equal(
    page.value('ferry_migration_finished_total', { mode: 'remote', result: 'completed' }),
    1,
    'the restored job j2 is not counted',
  );
  assert.equal(page.value('ferry_migration_started_total', { mode: 'remote' }), 1);
  assert.equal(page.value('ferry_migration_phase_duration_seconds_count', { phase: 'postcopy' }), 1);
});

test('a post-copy that broke and was resumed: jobs by phase show the pause, the resume is not a second switch', async () => {
  let running: MigrationStatus[] = [];
  const metrics = new AgentMetrics({
    runningJobs: () => running,
    incomingReservations: () => 0,
    limits: () => ({ maxOutgoing: 2, maxIncoming: 2 }),
    libvirtConnected: () => true,
    migrationNic: () => ({ name: '', up: false }),
  });
  const scrape = async () => parseScrape(await metrics.registry.metrics());
  const base = new MigrationJob('j1', remoteCommand(VM), Date.now, 'preparing').snapshot();
  metrics.jobTransition(base, null);
  metrics.jobTransition({ ...base, phase: 'migrating' }, 'preparing');
  metrics.jobTransition({ ...base, phase: 'postcopy' }, 'migrating');
  const paused = { ...base, phase: 'postcopy-paused' as const };
  metrics.jobTransition(paused, 'postcopy');
  running = [paused];
  let page = await scrape();
  assert.equal(page.value('ferry_migration_jobs', { phase: 'postcopy-paused' }), 1);
  assert.equal(page.value('ferry_migration_jobs', { phase: 'recovering' }), 0, 'the series exists before anything recovers');
  assert.equal(page.value('ferry_migration_job_phase', { job_id: 'j1', vm_id: VM, mode: 'remote', phase: 'postcopy-paused' }), 1);
  metrics.jobTransition({ ...base, phase: 'recovering' }, 'postcopy-paused');
  metrics.jobTransition({ ...base, phase: 'postcopy' }, 'recovering');
  running = [];
  metrics.jobTransition({ ...base, phase: 'completed', finishedAt: Date.now() }, 'postcopy');
  page = await scrape();
  assert.equal(page.value('ferry_migration_postcopy_switches_total'), 1, 'one switch, however often it was resumed');
  assert.equal(page.value('ferry_migration_phase_duration_seconds_count', { phase: 'postcopy-paused' }), 1);
  assert.equal(page.value('ferry_migration_phase_duration_seconds_count', { phase: 'recovering' }), 1);
  assert.equal(page.value('ferry_migration_finished_total', { mode: 'remote', result: 'completed', reason: 'none' }), 1);
});

test('host readings: libvirt, the migration NIC, limits, and the process metrics', async () => {
  const { scrape } = setup();
  const page = await scrape();
  assert.equal(page.value('ferry_host_libvirt_up'), 1);
  assert.equal(page.value('ferry_host_migration_nic_up', { nic: 'eth1' }), 1);
  assert.equal(page.value('ferry_migration_limit', { direction: 'outgoing' }), 2);
  assert.equal(page.value('ferry_migration_limit', { direction: 'incoming' }), 3);
  assert.ok(page.value('process_resident_memory_bytes') > 0);
  assert.equal(page.types.get('nodejs_eventloop_lag_p99_seconds'), 'gauge');
});

test('every family follows the Prometheus naming rules promtool lints: help, _total for counters only, base units, no abbreviations', async () => {
  const { hypervisor, migrations, metrics } = setup();
  metrics.rpcInterceptor();
  metrics.observePinholes(Object.assign(new FakePinholes(), { list: () => [] }));
  hypervisor.addVm(VM);
  const { jobId } = await migrations.migrate(remoteCommand(VM));
  await until('perform', () => hypervisor.isMigrating(VM));
  const text = await metrics.registry.metrics();
  hypervisor.complete(VM);
  await finalOf(migrations, jobId);
  const helps = new Map([...text.matchAll(/^# HELP (\S+) (.*)$/gm)].map((m) => [m[1]!, m[2]!]));
  const types = parseScrape(text).types;
  assert.ok(types.size > 30, `${types.size} families`);
  for (const name of [
    'ferry_grpc_calls_total',
    'ferry_pinholes_expired_total',
    'ferry_migration_job_phase',
    'process_resident_memory_bytes',
  ]) {
    assert.ok(types.has(name), `${name} is in the scrape`);
  }
  const abbreviations = new Set(['s', 'ms', 'us', 'ns', 'sec', 'b', 'kb', 'mb', 'gb', 'tb', 'pb', 'm', 'h', 'd']);
  const nonBase =
    /(^|_)(minutes|hours|days|weeks|bits|(pico|nano|micro|milli|centi|kilo|kibi|mega|mibi|giga|gibi|tera)(seconds|bytes))(_|$)/;
  for (const [name, type] of types) {
    const where = `${name} (${type})`;
    assert.ok(helps.get(name), `${where} has help`);
    assert.equal(name.endsWith('_total'), type === 'counter', `${where}: _total if and only if a counter`);
    assert.match(name, /^[a-z][a-z0-9_]*$/, `${where}: snake_case`);
    for (const token of name.split('_')) assert.ok(!abbreviations.has(token), `${where}: no abbreviated unit (${token})`);
    assert.doesNotMatch(name, nonBase, `${where}: base units`);
    assert.doesNotMatch(name, /_(gauge|counter|histogram|summary)(_|$)/, `${where}: no type in the name`);
  }
});
