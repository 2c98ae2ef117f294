// A tracer for unit tests of the core: it keeps every span it starts (name,
// kind, host, parent, attributes, errors, ended) in a list that tracers of
// several "hosts" can share, and makes W3C-shaped traceparents so contexts
// travel between them as they would between agents.
import { randomBytes } from 'node:crypto';
import type { SpanOptions, TraceContext, Tracer, TraceSpan } from '../../agent/migration/index.js';

export interface RecordedSpan {
  name: string;
  host: string;
  kind: string;
  traceId: string;
  spanId: string;
  /** '' for the root of a trace. */
  parentId: string;
  attributes: Record<string, string | number | boolean>;
  errors: string[];
  ended: boolean;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

export class RecordingTracer implements Tracer {
  constructor(
    readonly host: string,
    readonly spans: RecordedSpan[] = [],
  ) {}

  startSpan(name: string, options: SpanOptions & { parent?: TraceContext | undefined } = {}): TraceSpan {
    const parent = TRACEPARENT.exec(options.parent?.traceparent ?? '');
    return this.record(name, options, parent?.[1] ?? randomBytes(16).toString('hex'), parent?.[2] ?? '');
  }

  private record(name: string, options: SpanOptions, traceId: string, parentId: string): TraceSpan {
    const span: RecordedSpan = {
      name,
      host: this.host,
      kind: options.kind ?? 'internal',
      traceId,
      spanId: randomBytes(8).toString('hex'),
      parentId,
      attributes: { ...options.attributes },
      errors: [],
      ended: false,
    };
    this.spans.push(span);
    const handle: TraceSpan = {
      context: { traceparent: `00-${span.traceId}-${span.spanId}-01` },
      child: (childName, childOptions = {}) => this.record(childName, childOptions, span.traceId, span.spanId),
      setAttribute: (key, value) => {
        span.attributes[key] = value;
      },
      recordError: (err) => {
        span.errors.push(err instanceof Error ? err.message : String(err));
      },
      end: () => {
        span.ended = true;
      },
    };
    return handle;
  }
}

/** "lab1 Migrate <- (engine)" lines: each span with its host and its parent's name, for readable assertions. */
export function spanTree(spans: readonly RecordedSpan[]): string[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  return spans.map((s) => `${s.host} ${s.name} <- ${s.parentId ? (byId.get(s.parentId)?.name ?? '(remote)') : '(root)'}`);
}
