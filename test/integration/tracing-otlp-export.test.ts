// ferryd's tracing as it runs in production, up to the wire: settings from
// OTEL_* variables, the OTLP/HTTP exporter, and a receiver on 127.0.0.1 that
// reads the JSON it posts (the one the lab's end-to-end test uses). No root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTracing, tracingSettingsFrom } from '../../agent/telemetry/tracing/index.js';
import { FerryError } from '../../shared/errors.js';
import { startOtlpReceiver } from '../support/otlp-receiver.js';

test('spans reach an OTLP/HTTP receiver as JSON, with ids, parents, kinds, status and the resource naming the host', async () => {
  const receiver = await startOtlpReceiver();
  try {
    const settings = tracingSettingsFrom({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
    });
    assert.ok(settings, 'an endpoint turns tracing on');
    const tracing = startTracing(settings, { hostName: 'lab1', version: '0.2.0' });
    const engine = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    const migrate = tracing.tracer.startSpan('Migrate', { kind: 'server', parent: { traceparent: engine } });
    const perform = migrate.child('perform', { attributes: { 'ferry.migrate_uri': 'tcp://198.19.0.2:49152' } });
    perform.recordError(new FerryError('ABORTED', 'the convergence schedule aborted the migration'));
    perform.end();
    migrate.end();
    await tracing.shutdown(); // flushes
    assert.deepEqual(receiver.rejected, []);
    const byName = new Map(receiver.spans.map((s) => [s.name, s]));
    const root = byName.get('Migrate');
    const child = byName.get('perform');
    assert.equal(root?.traceId, 'a'.repeat(32));
    assert.equal(root?.parentSpanId, 'b'.repeat(16));
    assert.equal(root?.kind, 2, 'SPAN_KIND_SERVER');
    assert.equal(child?.traceId, 'a'.repeat(32));
    assert.equal(child?.parentSpanId, root?.spanId);
    assert.equal(child?.statusCode, 2, 'STATUS_CODE_ERROR');
    assert.equal(child?.attributes['ferry.error.kind'], 'ABORTED');
    assert.deepEqual(child?.events, ['exception']);
    assert.equal(root?.resource['host.name'], 'lab1');
    assert.equal(root?.resource['service.name'], 'ferryd');
    assert.equal(root?.resource['deployment.environment'], 'test');
  } finally {
    await receiver.close();
  }
});
