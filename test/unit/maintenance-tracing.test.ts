// A drain is a span, and its migrations' traces continue it: every Migrate the
// drain makes carries the drain span's context; the span ends with the
// drain's outcome, or when ExitMaintenance stops it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MaintenanceMode } from '../../agent/maintenance/index.js';
import { drained, enterRequest, setup, vm } from '../support/fake-drain.js';
import { settle } from '../support/fake-ports.js';
import { RecordingTracer, type RecordedSpan } from '../support/recording-tracer.js';

test("each Migrate of a drain carries the drain span's context; the span ends DRAINED", async () => {
  const { deps, migrations } = setup([vm('a'), vm('b')]);
  const spans: RecordedSpan[] = [];
  const mode = new MaintenanceMode({ ...deps, tracer: new RecordingTracer('lab1', spans) });
  migrations.autoEnd = 'completed';
  await mode.enter(enterRequest());
  assert.equal((await drained(mode)).phase, 'drained');
  const [drain] = spans;
  assert.equal(spans.length, 1);
  assert.equal(drain?.name, 'maintenance drain');
  assert.equal(drain?.attributes['ferry.maintenance.vms'], 2);
  assert.equal(drain?.attributes['ferry.maintenance.phase'], 'DRAINED');
  assert.ok(drain?.ended);
  assert.equal(migrations.started.length, 2);
  for (const request of migrations.started) {
    assert.equal(request.trace?.traceparent, `00-${drain?.traceId}-${drain?.spanId}-01`);
  }
});

test('ExitMaintenance ends the drain span (STOPPED); without a tracer the requests carry no trace', async () => {
  const traced = setup([vm('a')]);
  const spans: RecordedSpan[] = [];
  const mode = new MaintenanceMode({ ...traced.deps, tracer: new RecordingTracer('lab1', spans) });
  await mode.enter(enterRequest());
  for (let i = 0; i < 20 && traced.migrations.started.length === 0; i++) await settle();
  await mode.exit({ cancelMigrations: false });
  assert.equal(spans[0]?.attributes['ferry.maintenance.phase'], 'STOPPED');
  assert.ok(spans[0]?.ended);

  const plain = setup([vm('a')]);
  plain.migrations.autoEnd = 'completed';
  await plain.mode.enter(enterRequest());
  await drained(plain.mode);
  assert.equal(plain.migrations.started.length, 1);
  assert.equal('trace' in plain.migrations.started[0]!, false);
});
