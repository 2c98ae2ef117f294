// promtool (Debian's prometheus package) on Ferry's metrics and alerts:
// `check metrics` on a real scrape of the registry after a migration ran and
// while another runs (every family has samples), `check rules` on the alert
// examples, and `test rules` on their unit tests (deploy/prometheus/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { AgentMetrics } from '../../agent/telemetry/metrics/index.js';
import { testAgentMetrics } from '../support/agent-metrics.js';
import { FakeHypervisor, FakeNetwork, FakePeers } from '../support/fake-ports.js';
import { finalOf, outgoingMigrations, remoteCommand } from '../support/migration-fixtures.js';
import { REPO_ROOT } from '../support/lab.js';
import { promtool } from '../support/promtool.js';
import { until } from '../support/wait.js';

const ALERTS = path.join(REPO_ROOT, 'deploy/prometheus/ferry-alerts.yml');
const ALERT_TESTS = path.join(REPO_ROOT, 'deploy/prometheus/ferry-alerts.test.yml');

test('promtool check metrics passes on a scrape with a finished and a running migration', async () => {
  const hypervisor = new FakeHypervisor();
  let metrics: AgentMetrics | undefined;
  const migrations = outgoingMigrations({
    hypervisor,
    network: new FakeNetwork(),
    peers: new FakePeers(),
    onTransition: (s, previous) => metrics?.jobTransition(s, previous),
  });
  metrics = testAgentMetrics({ runningJobs: () => migrations.list(true) });
  const first = 'a0000000-0000-4000-8000-000000000001';
  const second = 'a0000000-0000-4000-8000-000000000002';
  hypervisor.addVm(first);
  hypervisor.addVm(second);
  const done = await migrations.migrate(remoteCommand(first));
  await until('perform', () => hypervisor.isMigrating(first));
  hypervisor.complete(first);
  await finalOf(migrations, done.jobId);
  const running = await migrations.migrate(remoteCommand(second));
  await until('perform', () => hypervisor.isMigrating(second));
  const scrape = await metrics.registry.metrics();
  assert.match(scrape, /ferry_migration_job_phase\{job_id="/);
  const checked = promtool(['check', 'metrics'], scrape);
  assert.ok(checked.ok, `promtool check metrics:\n${checked.output}`);
  hypervisor.complete(second);
  await finalOf(migrations, running.jobId);
});

test('promtool check rules and test rules pass on the alert examples', () => {
  const checked = promtool(['check', 'rules', ALERTS]);
  assert.ok(checked.ok, checked.output);
  assert.match(checked.output, /SUCCESS: 11 rules found/);
  const tested = promtool(['test', 'rules', ALERT_TESTS]);
  assert.ok(tested.ok, tested.output);
  assert.match(tested.output, /SUCCESS/);
});

test('promtool check rules refuses a broken rule: the check can fail', () => {
  const broken = promtool(
    ['check', 'rules', '/dev/stdin'],
    'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum by (vm_id (x)\n',
  );
  assert.equal(broken.ok, false, broken.output);
});
