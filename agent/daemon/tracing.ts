/**
 * ferryd's tracing at start: the OTEL_* variables the composition root read
 * (docs/operations.md, "Tracing"), the tracer when they turn it on, a log
 * line saying so, and export failures reported as warnings.
 */
import { ferryVersion } from '../host/version.js';
import type { Logger } from '../log.js';
import { reportExportErrors, startTracing, tracingSettingsFrom, type Tracing } from '../telemetry/tracing/index.js';

/** undefined when tracing is off; throws (INVALID_ARGUMENT, naming the variable) on a value ferryd cannot use. */
export function startTracingFrom(env: NodeJS.ProcessEnv, hostName: string, log: Logger): Tracing | undefined {
  const settings = tracingSettingsFrom(env);
  if (!settings) return undefined;
  const { url, serviceName, sampler } = settings;
  log.info('tracing on: spans exported over OTLP/HTTP', { url, serviceName, sampler: sampler.kind });
  reportExportErrors((error, failures) => log.warn('tracing: spans not exported', { url, error, failures }));
  return startTracing(settings, { hostName, version: ferryVersion() });
}
