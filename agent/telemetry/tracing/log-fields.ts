/**
 * The trace and span ids of a W3C traceparent (https://www.w3.org/TR/trace-context/#traceparent-header),
 * as log fields: traceId and spanId in JSON lines, TRACE_ID and SPAN_ID in
 * the journal, so `journalctl TRACE_ID=…` finds an agent's lines of a trace.
 */
import type { TraceContext } from '../../migration/index.js';

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}/;

/** {} when the context carries no valid traceparent (tracing off, or nothing sent). */
export function traceLogFields(context: TraceContext | undefined): { traceId?: string; spanId?: string } {
  const match = context?.traceparent ? TRACEPARENT.exec(context.traceparent) : null;
  if (!match?.[1] || !match[2] || /^0+$/.test(match[1])) return {};
  return { traceId: match[1], spanId: match[2] };
}
