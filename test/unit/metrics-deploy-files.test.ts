// deploy/grafana/ferry-dashboard.json and deploy/prometheus/ferry-alerts.yml
// use only metric names ferryd exports (a renamed metric breaks this test,
// not an operator's dashboard), and the dashboard is a Grafana dashboard:
// unique panel ids, every panel on the 24-column grid, a datasource variable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { testAgentMetrics } from '../support/agent-metrics.js';
import { REPO_ROOT } from '../support/lab.js';
import { parseScrape } from '../support/prometheus-text.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr: string }>;
}

const dashboard = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'deploy/grafana/ferry-dashboard.json'), 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string }> };
};
const alerts = parse(fs.readFileSync(path.join(REPO_ROOT, 'deploy/prometheus/ferry-alerts.yml'), 'utf8')) as {
  groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
};

/** The families ferryd's registry exports, with a histogram's _bucket, _sum and _count series. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = testAgentMetrics();
  const names = new Set<string>();
  for (const [name, type] of parseScrape(await metrics.registry.metrics()).types) {
    names.add(name);
    if (type === 'histogram') for (const part of ['_bucket', '_sum', '_count']) names.add(`${name}${part}`);
  }
  return names;
}

/** Metric names in a PromQL expression: ferryd's own, Node's and the process's. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:ferry|nodejs|process)_[a-z0-9_]+)/g)].map((m) => m[1]!);
}

test('every dashboard query and every alert uses metrics ferryd exports', async () => {
  const exported = await exportedNames();
  const exprs = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
    ...alerts.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
  ];
  assert.ok(exprs.length > 30, `${exprs.length} queries`);
  let named = 0;
  for (const { where, expr } of exprs) {
    for (const name of metricNames(expr)) {
      named++;
      assert.ok(exported.has(name), `${where}: ${name} is not a metric ferryd exports (${expr})`);
    }
  }
  assert.ok(named >= exprs.length - 1, 'nearly every query names a metric (FerryAgentDown uses up)');
  // The test can fail: a name ferryd does not export is caught.
  assert.ok(!exported.has('ferry_migration_made_up_total'));
});

test('the dashboard: unique panel ids, on the 24-column grid, a Prometheus datasource and a host variable', () => {
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of dashboard.panels) {
    assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `panel "${p.title}" fits the grid`);
    if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has a query`);
  }
  const variables = dashboard.templating.list.map((v) => `${v.name}:${v.type}`);
  assert.deepEqual(variables, ['datasource:datasource', 'instance:query']);
  assert.equal(dashboard.uid, 'ferry-overview');
});
