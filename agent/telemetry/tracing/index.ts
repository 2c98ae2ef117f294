/** OpenTelemetry tracing for ferryd (docs/operations.md, "Tracing"): settings from OTEL_* variables, the tracer, log fields. */
export { tracingSettingsFrom, type TracingSettings } from './settings.js';
export { startTracing, tracingWith, type Tracing, type TracingIdentity } from './start-tracing.js';
export { OtelTracer } from './otel-tracer.js';
export { traceLogFields } from './log-fields.js';
export { reportExportErrors } from './export-errors.js';
