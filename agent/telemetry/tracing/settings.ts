/**
 * Whether ferryd traces, and where to, from the standard OpenTelemetry
 * variables (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
 * and https://opentelemetry.io/docs/specs/otel/protocol/exporter/). Off by
 * default: on when OTEL_TRACES_EXPORTER is otlp, or when it is unset and an
 * OTLP endpoint is given; OTEL_SDK_DISABLED=true turns it off whatever else
 * is set. The caller hands the environment in (only agent/main.ts reads it).
 * A value ferryd cannot use stops it at start with what to set instead.
 */
import { FerryError } from '../../../shared/errors.js';

export type SamplerSetting =
  | { kind: 'always_on' | 'always_off' | 'parentbased_always_on' | 'parentbased_always_off' }
  | { kind: 'traceidratio' | 'parentbased_traceidratio'; ratio: number };

export interface TracingSettings {
  /** The OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces. */
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  serviceName: string;
  /** OTEL_RESOURCE_ATTRIBUTES, decoded. */
  resourceAttributes: Record<string, string>;
  sampler: SamplerSetting;
  batch: { scheduledDelayMs: number; maxQueueSize: number; maxExportBatchSize: number; exportTimeoutMs: number };
}

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_BASE = 'http://localhost:4318';
const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

/** undefined when tracing is off; throws INVALID_ARGUMENT naming the variable and what to set. */
export function tracingSettingsFrom(env: Env): TracingSettings | undefined {
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const endpoint = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const exporter = value(env, 'OTEL_TRACES_EXPORTER');
  if (exporter !== undefined) {
    const names = exporter.split(',').map((n) => n.trim().toLowerCase());
    const unknown = names.filter((n) => n !== 'otlp' && n !== 'none');
    if (unknown.length > 0) {
      throw invalid('OTEL_TRACES_EXPORTER', exporter, `ferryd exports traces with OTLP only: set it to otlp (or none), or unset it`);
    }
    if (!names.includes('otlp')) return undefined;
  } else if (endpoint === undefined && base === undefined) {
    return undefined;
  }
  checkProtocol(env);
  return {
    url: tracesUrl(endpoint, base),
    headers: {
      ...headers(env, 'OTEL_EXPORTER_OTLP_HEADERS'),
      ...headers(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'),
    },
    timeoutMs: positiveInteger(env, first(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT'), 10_000),
    serviceName: value(env, 'OTEL_SERVICE_NAME') ?? 'ferryd',
    resourceAttributes: keyValues(env, 'OTEL_RESOURCE_ATTRIBUTES'),
    sampler: sampler(env),
    batch: {
      scheduledDelayMs: positiveInteger(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000),
      maxQueueSize: positiveInteger(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048),
      maxExportBatchSize: positiveInteger(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512),
      exportTimeoutMs: positiveInteger(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000),
    },
  };
}

/** A set, non-blank variable, trimmed. */
function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/** The name of the first of two variables that is set (the signal-specific one wins), else the second. */
function first(env: Env, specific: string, general: string): string {
  return value(env, specific) !== undefined ? specific : general;
}

function invalid(name: string, given: string, fix: string): FerryError {
  return new FerryError('INVALID_ARGUMENT', `${name}=${given}: ${fix}`, { field: name, reason: 'INVALID_FIELD' });
}

function checkProtocol(env: Env): void {
  const name = first(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL');
  const protocol = value(env, name);
  if (protocol !== undefined && protocol !== 'http/json') {
    throw invalid(
      name,
      protocol,
      'ferryd sends OTLP over HTTP as JSON: set it to http/json (an OpenTelemetry Collector accepts it on its OTLP/HTTP port, 4318), or unset it',
    );
  }
}

/** The traces URL: the signal's endpoint as given, or the base endpoint with /v1/traces appended (the exporter spec's rule). */
function tracesUrl(endpoint: string | undefined, base: string | undefined): string {
  const [name, url] =
    endpoint !== undefined
      ? ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', endpoint]
      : ['OTEL_EXPORTER_OTLP_ENDPOINT', `${(base ?? DEFAULT_BASE).replace(/\/+$/, '')}/v1/traces`];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(name, endpoint ?? base ?? '', 'not a URL: give the collector as http://HOST:4318 (or https://)');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalid(name, endpoint ?? base ?? '', 'ferryd sends OTLP over HTTP: give an http:// or https:// URL');
  }
  return parsed.href;
}

/** "key1=value1,key2=value2" with percent-encoded values (W3C Baggage's format, as the spec says). */
function keyValues(env: Env, name: string): Record<string, string> {
  const text = value(env, name);
  const pairs: Record<string, string> = {};
  if (text === undefined) return pairs;
  for (const item of text.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    const key = item.slice(0, eq).trim();
    if (eq <= 0 || key === '')
      throw invalid(name, text, `"${item.trim()}" is not key=value: give a comma-separated list of key=value pairs`);
    try {
      pairs[key] = decodeURIComponent(item.slice(eq + 1).trim());
    } catch {
      throw invalid(name, text, `the value of ${key} is not valid percent-encoding: encode %, commas and spaces as %25, %2C, %20`);
    }
  }
  return pairs;
}

function headers(env: Env, name: string): Record<string, string> {
  return keyValues(env, name);
}

function positiveInteger(env: Env, name: string, fallback: number): number {
  const text = value(env, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0)
    throw invalid(name, text, 'give a whole number of milliseconds or items, above 0');
  return n;
}

function sampler(env: Env): SamplerSetting {
  const name = value(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase() ?? 'parentbased_always_on';
  if (!SAMPLERS.includes(name)) throw invalid('OTEL_TRACES_SAMPLER', name, `ferryd knows ${SAMPLERS.join(', ')}: pick one, or unset it`);
  if (name !== 'traceidratio' && name !== 'parentbased_traceidratio') return { kind: name as 'always_on' };
  const arg = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  const ratio = arg === undefined ? 1 : Number(arg);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw invalid('OTEL_TRACES_SAMPLER_ARG', arg ?? '', 'the ratio of traces kept: give a number from 0 to 1');
  }
  return { kind: name, ratio };
}
