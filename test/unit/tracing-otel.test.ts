// The Tracer port over the OpenTelemetry SDK, read back from its in-memory
// exporter: parents (local, and remote through W3C traceparent), kinds,
// attributes, recorded errors, the resource naming the host, and the trace
// and span ids a log line gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { globalErrorHandler, loggingErrorHandler, setGlobalErrorHandler } from '@opentelemetry/core';
import { reportExportErrors, traceLogFields, tracingWith } from '../../agent/telemetry/tracing/index.js';
import { FerryError } from '../../shared/errors.js';

const ENGINE_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const ENGINE_SPAN = '00f067aa0ba902b7';

function recorded(sampler: 'parentbased_always_on' | 'always_off' = 'parentbased_always_on') {
  const exporter = new InMemorySpanExporter();
  const tracing = tracingWith(
    new SimpleSpanProcessor({ exporter }),
    { serviceName: 'ferryd', resourceAttributes: { site: 'lab' }, sampler: { kind: sampler } },
    { hostName: 'lab1', version: '0.2.0' },
  );
  return { exporter, tracing };
}

test("a span started under an engine's traceparent continues its trace; children are local; context carries the span", async () => {
  const { exporter, tracing } = recorded();
  const migrate = tracing.tracer.startSpan('Migrate', {
    kind: 'server',
    parent: { traceparent: `00-${ENGINE_TRACE}-${ENGINE_SPAN}-01` },
    attributes: { 'ferry.vm_id': 'v1' },
  });
  const call = migrate.child('PrepareIncoming', { kind: 'client' });
  call.setAttribute('ferry.destination', 'lab2');
  call.end();
  call.end(); // twice: still one span
  migrate.end();
  const [prepare, root] = exporter.getFinishedSpans();
  assert.equal(exporter.getFinishedSpans().length, 2);
  assert.equal(root?.name, 'Migrate');
  assert.equal(root?.kind, SpanKind.SERVER);
  assert.equal(root?.spanContext().traceId, ENGINE_TRACE);
  assert.equal(root?.parentSpanContext?.spanId, ENGINE_SPAN);
  assert.equal(root?.parentSpanContext?.isRemote, true);
  assert.equal(root?.attributes['ferry.vm_id'], 'v1');
  assert.equal(prepare?.kind, SpanKind.CLIENT);
  assert.equal(prepare?.parentSpanContext?.spanId, root?.spanContext().spanId);
  assert.notEqual(prepare?.parentSpanContext?.isRemote, true, 'a local parent');
  assert.equal(prepare?.attributes['ferry.destination'], 'lab2');
  assert.equal(call.context.traceparent, `00-${ENGINE_TRACE}-${prepare?.spanContext().spanId}-01`);
  assert.deepEqual(traceLogFields(call.context), { traceId: ENGINE_TRACE, spanId: prepare?.spanContext().spanId });
  assert.equal(root?.resource.attributes['host.name'], 'lab1');
  assert.equal(root?.resource.attributes['service.name'], 'ferryd');
  assert.equal(root?.resource.attributes['service.version'], '0.2.0');
  assert.equal(root?.resource.attributes.site, 'lab');
  await tracing.shutdown();
});

test("another agent's span is the parent of a server span started from its context (tracestate carried too)", async () => {
  const source = recorded();
  const destination = recorded();
  const client = source.tracing.tracer.startSpan('Migrate').child('FinishIncoming', { kind: 'client' });
  const server = destination.tracing.tracer.startSpan('FinishIncoming', {
    kind: 'server',
    parent: { ...client.context, tracestate: 'vendor=abc' },
  });
  server.end();
  client.end();
  const [received] = destination.exporter.getFinishedSpans();
  const [sent] = source.exporter.getFinishedSpans();
  assert.equal(received?.spanContext().traceId, sent?.spanContext().traceId);
  assert.equal(received?.parentSpanContext?.spanId, sent?.spanContext().spanId);
  assert.equal(received?.spanContext().traceState?.get('vendor'), 'abc');
  assert.equal(server.context.tracestate, 'vendor=abc');
});

test('a malformed traceparent starts a new trace (W3C: the receiver restarts it)', () => {
  const { exporter, tracing } = recorded();
  tracing.tracer.startSpan('Migrate', { parent: { traceparent: '00-nothex-00f067aa0ba902b7-01' } }).end();
  const [span] = exporter.getFinishedSpans();
  assert.equal(span?.parentSpanContext, undefined);
  assert.match(span?.spanContext().traceId ?? '', /^[0-9a-f]{32}$/);
});

test('an error marks the span failed with an exception event, and a FerryError its kind and reason', () => {
  const { exporter, tracing } = recorded();
  const span = tracing.tracer.startSpan('perform');
  span.recordError(new FerryError('UNAVAILABLE', 'destination agent lab2 is not reachable', { reason: 'DESTINATION_UNREACHABLE' }));
  span.end();
  const [done] = exporter.getFinishedSpans();
  assert.equal(done?.status.code, SpanStatusCode.ERROR);
  assert.equal(done?.status.message, 'destination agent lab2 is not reachable');
  assert.equal(done?.attributes['ferry.error.kind'], 'UNAVAILABLE');
  assert.equal(done?.attributes['ferry.error.reason'], 'DESTINATION_UNREACHABLE');
  assert.equal(done?.events[0]?.name, 'exception');
  assert.equal(done?.events[0]?.attributes?.['exception.message'], 'destination agent lab2 is not reachable');
});

test('sampled out: nothing exported, and the context still carries the trace with the not-sampled flag', () => {
  const { exporter, tracing } = recorded('always_off');
  const span = tracing.tracer.startSpan('Migrate');
  span.end();
  assert.equal(exporter.getFinishedSpans().length, 0);
  assert.match(span.context.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
});

test('log fields: none without a valid traceparent', () => {
  assert.deepEqual(traceLogFields(undefined), {});
  assert.deepEqual(traceLogFields({}), {});
  assert.deepEqual(traceLogFields({ traceparent: `00-${'0'.repeat(32)}-${ENGINE_SPAN}-01` }), {});
  assert.deepEqual(traceLogFields({ traceparent: 'garbage' }), {});
});

test('export failures are reported at most once a minute, with the count since the last report', () => {
  const reports: Array<[string, number]> = [];
  let now = 0;
  reportExportErrors(
    (message, failures) => reports.push([message, failures]),
    () => now,
  );
  try {
    globalErrorHandler(new Error('connect ECONNREFUSED 198.18.0.254:4318'));
    now = 30_000;
    globalErrorHandler(new Error('connect ECONNREFUSED 198.18.0.254:4318'));
    globalErrorHandler(new Error('timeout'));
    now = 60_000;
    globalErrorHandler(new Error('Not Found'));
    assert.deepEqual(reports, [
      ['connect ECONNREFUSED 198.18.0.254:4318', 1],
      ['Not Found', 3],
    ]);
  } finally {
    setGlobalErrorHandler(loggingErrorHandler());
  }
});
