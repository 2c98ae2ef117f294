/**
 * A grpc-js server interceptor that logs one "rpc" line per call, when it
 * ends: method, peer address, the peer's identity (its TLS certificate's
 * subject CN, once mTLS is on), status code and duration. Health checks and
 * reflection go to debug: load balancers and probes call them constantly.
 */
import * as grpc from '@grpc/grpc-js';
import { statusName } from '../../shared/grpc-status.js';
import type { Logger } from '../log.js';
import { traceLogFields } from '../telemetry/tracing/log-fields.js';
import { traceFromMetadata } from './trace-metadata.js';

const QUIET_PREFIXES = ['/grpc.health.v1.', '/grpc.reflection.'];

/** Codes that mean the agent itself failed rather than the caller's request. */
const SERVER_FAULTS = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DATA_LOSS]);

export interface RpcLogLine {
  method: string;
  peer: string;
  identity: string | null;
  code: string;
  durationMs: number;
  details?: string;
  /** The caller's trace (its W3C traceparent), when it sent one: the call belongs to it. */
  traceId?: string;
}

/** Pass to `new grpc.Server({ interceptors: [rpcLogInterceptor(log)] })`. */
export function rpcLogInterceptor(log: Logger): grpc.ServerInterceptor {
  return (method, call) => {
    const started = process.hrtime.bigint();
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let traceId: string | undefined;
    const finish = (code: grpc.status, details: string | undefined) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      const line: RpcLogLine = {
        method: method.path,
        peer: call.getPeer(),
        identity: peerIdentity(call),
        code: statusName(code),
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      };
      line.durationMs = Math.round(line.durationMs * 10) / 10;
      if (code !== grpc.status.OK && details) line.details = details;
      if (traceId) line.traceId = traceId;
      const level = QUIET_PREFIXES.some((p) => method.path.startsWith(p)) ? 'debug' : SERVER_FAULTS.has(code) ? 'error' : 'info';
      log.log(level, 'rpc', line);
    };
    // At the deadline grpc-js answers DEADLINE_EXCEEDED itself, bypassing the
    // interceptors, and drops the handler's late answer: log it from here.
    const deadline = call.getDeadline();
    const ms = deadline instanceof Date ? deadline.getTime() : deadline;
    if (Number.isFinite(ms)) {
      timer = setTimeout(
        () => finish(grpc.status.DEADLINE_EXCEEDED, 'deadline exceeded before the agent answered'),
        Math.max(0, ms - Date.now()),
      );
      timer.unref();
    }
    // grpc-js also calls onCancel after every status it sends (for cleanup),
    // so this only counts when no status went through the responder first.
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        traceId = traceLogFields(traceFromMetadata(metadata)).traceId;
        next(metadata);
      })
      .withOnCancel(() =>
        Date.now() >= ms
          ? finish(grpc.status.DEADLINE_EXCEEDED, 'deadline exceeded before the agent answered')
          : finish(grpc.status.CANCELLED, 'cancelled by the client'),
      )
      .build();
    const responder = new grpc.ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((status, next) => {
        // An answer after the deadline reaches no one: grpc-js drops it.
        if (Date.now() >= ms) finish(grpc.status.DEADLINE_EXCEEDED, 'the agent answered after the deadline');
        else finish(status.code ?? grpc.status.UNKNOWN, status.details);
        next(status);
      })
      .build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}

/** The client certificate's subject CN (or first SAN), null without mTLS. */
function peerIdentity(call: grpc.ServerInterceptingCallInterface): string | null {
  const cert = call.getAuthContext().sslPeerCertificate;
  if (!cert || Object.keys(cert).length === 0) return null;
  const cn = cert.subject?.CN;
  if (cn) return Array.isArray(cn) ? cn.join(',') : cn;
  return cert.subjectaltname?.split(',')[0]?.trim() ?? null;
}
