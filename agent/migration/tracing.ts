/**
 * The tracing port: what the core asks of a tracer, without knowing which
 * (agent/telemetry/tracing/ implements it over OpenTelemetry). A span's
 * context is opaque here: the W3C Trace Context headers
 * (https://www.w3.org/TR/trace-context/) that let a span on another agent
 * be its child; the core only hands it on (PrepareIncoming, FinishIncoming,
 * CheckIncoming carry it). Tracing off is the no-op tracer below.
 */

/** A span's context as it travels between agents (traceparent, tracestate); empty when nothing is traced. */
export type TraceContext = Readonly<Record<string, string>>;

/** server: the span of a call this agent answers; client: of a call it makes to another agent. */
export type SpanKind = 'internal' | 'server' | 'client';

export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: SpanAttributes;
}

/** One operation being timed. end() is idempotent: the first call ends it. */
export interface TraceSpan {
  /** What another agent needs to make its span a child of this one. */
  readonly context: TraceContext;
  /** A child span of this one, on this agent. */
  child(name: string, options?: SpanOptions): TraceSpan;
  setAttribute(key: string, value: string | number | boolean): void;
  /** Marks the span failed with the error (its message, and its kind and reason for a FerryError). */
  recordError(err: unknown): void;
  end(): void;
}

export interface Tracer {
  /** A new span: the root of a trace, or the child of a span another agent (or an engine) sent. */
  startSpan(name: string, options?: SpanOptions & { parent?: TraceContext | undefined }): TraceSpan;
}

const EMPTY_CONTEXT: TraceContext = Object.freeze({});

export const noopSpan: TraceSpan = {
  context: EMPTY_CONTEXT,
  child: () => noopSpan,
  setAttribute: () => {},
  recordError: () => {},
  end: () => {},
};

export const noopTracer: Tracer = { startSpan: () => noopSpan };

/** Runs fn in a span that ends when fn settles, failed with fn's error if it throws. */
export async function inSpan<T>(span: TraceSpan, fn: (span: TraceSpan) => Promise<T>): Promise<T> {
  try {
    return await fn(span);
  } catch (err) {
    span.recordError(err);
    throw err;
  } finally {
    span.end();
  }
}
