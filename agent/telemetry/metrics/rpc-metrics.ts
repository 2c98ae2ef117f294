/**
 * gRPC calls by method and status code, and their duration: a grpc-js
 * server interceptor beside the call log (agent/rpc/logging.ts). The method
 * label is bounded by the contract: grpc-js answers UNIMPLEMENTED to an
 * unknown path before any interceptor runs.
 */
import * as grpc from '@grpc/grpc-js';
import { Counter, Histogram, type Registry } from 'prom-client';
import { statusName } from '../../../shared/grpc-status.js';
import { RPC_SECONDS } from './buckets.js';

export function rpcMetricsInterceptor(registry: Registry): grpc.ServerInterceptor {
  const calls = new Counter({
    name: 'ferry_grpc_calls_total',
    help: 'gRPC calls served, by method (/package.Service/Method) and status code.',
    labelNames: ['method', 'code'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'ferry_grpc_call_duration_seconds',
    help: 'How long gRPC calls took to answer (streams: until they ended), by method.',
    labelNames: ['method'],
    buckets: RPC_SECONDS,
    registers: [registry],
  });
  return (method, call) => {
    const started = process.hrtime.bigint();
    let done = false;
    const finish = (code: grpc.status) => {
      if (done) return;
      done = true;
      calls.inc({ method: method.path, code: statusName(code) });
      duration.observe({ method: method.path }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    // grpc-js calls onCancel after every status it sends too: it counts only when no status went out first.
    // At the deadline grpc-js answers DEADLINE_EXCEEDED itself, past the interceptors (as logging.ts notes).
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    const listener = new grpc.ServerListenerBuilder()
      .withOnCancel(() => finish(Date.now() >= deadlineMs ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED))
      .build();
    const responder = new grpc.ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((status, next) => {
        finish(status.code ?? grpc.status.UNKNOWN);
        next(status);
      })
      .build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}
