/**
 * The core's Tracer port over the OpenTelemetry API. Parents are passed
 * explicitly (no context manager, no global provider): a child is started
 * from its parent's OpenTelemetry context, and a context that travels
 * (to another agent, or from an engine) is W3C Trace Context
 * (https://www.w3.org/TR/trace-context/), injected and extracted with the
 * W3C propagator. Errors follow the trace API's advice on recording
 * exceptions: status ERROR with the message, and an exception event.
 */
import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer as OtelApiTracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { errorMessage, isFerryError } from '../../../shared/errors.js';
import type { SpanOptions, TraceContext, Tracer, TraceSpan } from '../../migration/index.js';

const propagator = new W3CTraceContextPropagator();

const KINDS = { internal: SpanKind.INTERNAL, server: SpanKind.SERVER, client: SpanKind.CLIENT } as const;

export class OtelTracer implements Tracer {
  constructor(private readonly tracer: OtelApiTracer) {}

  startSpan(name: string, options: SpanOptions & { parent?: TraceContext | undefined } = {}): TraceSpan {
    // A malformed traceparent extracts to nothing: the span starts a new trace.
    const parent = options.parent ? propagator.extract(ROOT_CONTEXT, options.parent, defaultTextMapGetter) : ROOT_CONTEXT;
    return startOtelSpan(this.tracer, name, options, parent);
  }
}

function startOtelSpan(tracer: OtelApiTracer, name: string, options: SpanOptions, parent: Context): TraceSpan {
  const span = tracer.startSpan(
    name,
    { kind: KINDS[options.kind ?? 'internal'], ...(options.attributes ? { attributes: options.attributes } : {}) },
    parent,
  );
  return new OtelTraceSpan(tracer, span, trace.setSpan(parent, span));
}

class OtelTraceSpan implements TraceSpan {
  private ended = false;
  private carried: TraceContext | undefined;

  constructor(
    private readonly tracer: OtelApiTracer,
    private readonly span: Span,
    private readonly own: Context,
  ) {}

  get context(): TraceContext {
    if (!this.carried) {
      const carrier: Record<string, string> = {};
      propagator.inject(this.own, carrier, defaultTextMapSetter);
      this.carried = Object.freeze(carrier);
    }
    return this.carried;
  }

  child(name: string, options: SpanOptions = {}): TraceSpan {
    return startOtelSpan(this.tracer, name, options, this.own);
  }

  setAttribute(key: string, value: string | number | boolean): void {
    this.span.setAttribute(key, value);
  }

  recordError(err: unknown): void {
    if (isFerryError(err)) {
      this.span.setAttribute('ferry.error.kind', err.kind);
      this.span.setAttribute('ferry.error.reason', err.reason);
    }
    this.span.recordException(err instanceof Error ? err : errorMessage(err));
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(err) });
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.span.end();
  }
}
