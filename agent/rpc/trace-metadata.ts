/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) in gRPC metadata:
 * an engine's or a source agent's `traceparent` and `tracestate` become the
 * core's opaque TraceContext, and back. Only the two headers are carried,
 * within the sizes the recommendation asks systems to accept (512 characters
 * of tracestate); what is malformed inside them is the tracer's to ignore (a
 * bad traceparent starts a new trace, as the recommendation says).
 */
import * as grpc from '@grpc/grpc-js';
import type { TraceContext } from '../migration/index.js';

const HEADERS = ['traceparent', 'tracestate'] as const;
/** traceparent version 00 is 55 characters; later versions may append fields. */
const MAX_LENGTH = { traceparent: 256, tracestate: 512 } as const;

/** The caller's trace context, or undefined when it sent none. */
export function traceFromMetadata(metadata: grpc.Metadata): TraceContext | undefined {
  const context: Record<string, string> = {};
  for (const header of HEADERS) {
    // Several tracestate values are one list (W3C: combined with commas).
    const values = metadata.get(header).filter((v): v is string => typeof v === 'string');
    const value = header === 'tracestate' ? values.join(',') : values[0];
    if (value && value.length <= MAX_LENGTH[header]) context[header] = value;
  }
  return context.traceparent ? context : undefined;
}

/** Metadata carrying a trace context to another agent; undefined when there is nothing to carry. */
export function metadataWithTrace(trace: TraceContext | undefined): grpc.Metadata | undefined {
  if (!trace?.traceparent) return undefined;
  const metadata = new grpc.Metadata();
  for (const header of HEADERS) {
    const value = trace[header];
    if (value) metadata.set(header, value);
  }
  return metadata;
}
