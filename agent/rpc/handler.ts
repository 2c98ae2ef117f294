/**
 * Wraps a promise-returning function as a grpc-js unary handler: every thrown
 * error goes through the one mapping to a gRPC status (shared/grpc-status.ts).
 */
import type * as grpc from '@grpc/grpc-js';
import { toServiceError } from '../../shared/grpc-status.js';

export function unaryHandler<Req, Res>(
  handle: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    handle(call.request, call).then(
      (response) => callback(null, response),
      (err: unknown) => callback(toServiceError(err)),
    );
  };
}

/** Runs fn and answers its error on a server stream, if it throws. */
export function streamHandler<Req, Res>(
  handle: (call: grpc.ServerWritableStream<Req, Res>) => Promise<void>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    // grpc-js sends a server stream's status from an 'error' event; destroy() would drop it.
    handle(call).catch((err: unknown) => call.emit('error', toServiceError(err)));
  };
}
