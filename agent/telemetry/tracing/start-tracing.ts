/**
 * ferryd's tracer when tracing is on: an OpenTelemetry TracerProvider whose
 * spans are batched to an OTLP/HTTP (JSON) collector, under a resource that
 * names this agent and its host, so one trace shows which host did what.
 */
import type { Tracer as OtelApiTracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Tracer } from '../../migration/index.js';
import { OtelTracer } from './otel-tracer.js';
import type { SamplerSetting, TracingSettings } from './settings.js';

/** host.name, from the host resource conventions (https://opentelemetry.io/docs/specs/semconv/resource/host/); not yet stable, so not imported. */
const ATTR_HOST_NAME = 'host.name';

export interface Tracing {
  tracer: Tracer;
  /** Exports what is still queued, then stops (bounded by the exporter's timeout). */
  shutdown(): Promise<void>;
}

export interface TracingIdentity {
  /** This host, as other agents name it (its certificate's name). */
  hostName: string;
  version: string;
}

/** Tracing to the collector the settings name. */
export function startTracing(settings: TracingSettings, identity: TracingIdentity): Tracing {
  const exporter = new OTLPTraceExporter({ url: settings.url, headers: settings.headers, timeoutMillis: settings.timeoutMs });
  const processor = new BatchSpanProcessor({
    exporter,
    scheduledDelayMillis: settings.batch.scheduledDelayMs,
    maxQueueSize: settings.batch.maxQueueSize,
    maxExportBatchSize: Math.min(settings.batch.maxExportBatchSize, settings.batch.maxQueueSize),
    exportTimeoutMillis: settings.batch.exportTimeoutMs,
  });
  return tracingWith(processor, settings, identity);
}

/** Tracing through any span processor (tests hand an in-memory exporter's). */
export function tracingWith(
  processor: SpanProcessor,
  settings: Pick<TracingSettings, 'serviceName' | 'resourceAttributes' | 'sampler'>,
  identity: TracingIdentity,
): Tracing {
  const provider = new TracerProvider({
    // The variables' attributes first: what ferryd knows of itself wins.
    resource: resourceFromAttributes({
      ...settings.resourceAttributes,
      [ATTR_SERVICE_NAME]: settings.serviceName,
      [ATTR_SERVICE_VERSION]: identity.version,
      [ATTR_HOST_NAME]: identity.hostName,
    }),
    sampler: samplerOf(settings.sampler),
    spanProcessors: [processor],
  });
  const tracer: OtelApiTracer = provider.getTracer('ferryd', identity.version);
  return { tracer: new OtelTracer(tracer), shutdown: () => provider.shutdown() };
}

function samplerOf(setting: SamplerSetting): Sampler {
  switch (setting.kind) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(setting.ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(setting.ratio) });
  }
}
