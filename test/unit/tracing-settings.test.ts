// Which OTEL_* variables turn tracing on, what they set, and the message for
// each value ferryd cannot use (docs/operations.md, "Tracing").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tracingSettingsFrom } from '../../agent/telemetry/tracing/settings.js';
import { isFerryError } from '../../shared/errors.js';

test('off by default, and off whatever else is set under OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none', () => {
  assert.equal(tracingSettingsFrom({}), undefined);
  assert.equal(tracingSettingsFrom({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' }), undefined, 'no exporter, no endpoint');
  assert.equal(tracingSettingsFrom({ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' }), undefined);
  assert.equal(tracingSettingsFrom({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), undefined);
  assert.notEqual(tracingSettingsFrom({ OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'otlp' }), undefined);
});

test('on with OTEL_TRACES_EXPORTER=otlp (localhost:4318 by default) or with an endpoint; the traces URL follows the exporter spec', () => {
  assert.equal(tracingSettingsFrom({ OTEL_TRACES_EXPORTER: 'otlp' })?.url, 'http://localhost:4318/v1/traces');
  assert.equal(
    tracingSettingsFrom({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://198.18.0.254:4318/' })?.url,
    'http://198.18.0.254:4318/v1/traces',
  );
  assert.equal(
    tracingSettingsFrom({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example:443/custom/path',
    })?.url,
    'https://collector.example/custom/path',
    'the signal-specific endpoint is used as given',
  );
});

test('service name, resource attributes, headers (percent-decoded), timeout, sampler and batch settings', () => {
  const settings = tracingSettingsFrom({
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: 'ferryd-lab',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=lab, site=rack%201',
    OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-a=1',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-a=2',
    OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
    OTEL_BSP_SCHEDULE_DELAY: '200',
  });
  assert.ok(settings);
  assert.equal(settings.serviceName, 'ferryd-lab');
  assert.deepEqual(settings.resourceAttributes, { 'deployment.environment': 'lab', site: 'rack 1' });
  assert.deepEqual(settings.headers, { authorization: 'Bearer abc', 'x-a': '2' });
  assert.equal(settings.timeoutMs, 2500);
  assert.deepEqual(settings.sampler, { kind: 'parentbased_traceidratio', ratio: 0.25 });
  assert.equal(settings.batch.scheduledDelayMs, 200);
  assert.equal(settings.batch.maxQueueSize, 2048);
  const defaults = tracingSettingsFrom({ OTEL_TRACES_EXPORTER: 'otlp' });
  assert.equal(defaults?.serviceName, 'ferryd');
  assert.deepEqual(defaults?.sampler, { kind: 'parentbased_always_on' });
});

test('a value ferryd cannot use names the variable and what to set', () => {
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, 'OTEL_TRACES_EXPORTER', /OTLP only: set it to otlp/],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL', /set it to http\/json/],
    [
      { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' },
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
      /http\/json/,
    ],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT', /http:\/\/ or https:\/\//],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', /not a URL/],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TIMEOUT: '10s' }, 'OTEL_EXPORTER_OTLP_TIMEOUT', /whole number/],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER', /parentbased_always_on/],
    [
      { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' },
      'OTEL_TRACES_SAMPLER_ARG',
      /0 to 1/,
    ],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_RESOURCE_ATTRIBUTES: 'site' }, 'OTEL_RESOURCE_ATTRIBUTES', /key=value/],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_HEADERS: 'a=%zz' }, 'OTEL_EXPORTER_OTLP_HEADERS', /percent-encoding/],
  ];
  for (const [env, variable, fix] of cases) {
    assert.throws(
      () => tracingSettingsFrom(env),
      (e) =>
        isFerryError(e, 'INVALID_ARGUMENT') && e.details.field === variable && e.message.startsWith(`${variable}=`) && fix.test(e.message),
      JSON.stringify(env),
    );
  }
});
