/**
 * The typed client of a Ferry agent, used by ferryctl, by agents calling
 * their peers, and by tests. Unary calls become promises that reject with a
 * FerryError (shared/errors.ts), mapped back from the gRPC status by the same
 * table the agent used to answer.
 */
import type * as grpc from '@grpc/grpc-js';
import { loadFerryProto } from './proto.js';
import { fromServiceError } from './grpc-status.js';
import { FerryError } from './errors.js';
import { cleanGrpcMessage } from './transport-errors.js';
import { hostPort, splitHostPort } from './net.js';
import type { MigrationServiceClient } from './generated/ferry/v1/MigrationService.js';
import type { PeerServiceClient } from './generated/ferry/v1/PeerService.js';
import type { HostServiceClient } from './generated/ferry/v1/HostService.js';

export const DEFAULT_AGENT_PORT = 54321;

// grpc-js declares four overloads per unary method; the last one is
// (argument, callback), from which the request and response types are read.
type UnaryRequest<F> = F extends (argument: infer A, callback: grpc.requestCallback<unknown>) => grpc.ClientUnaryCall ? A : never;
type UnaryResponse<F> = F extends (argument: never, callback: grpc.requestCallback<infer R>) => grpc.ClientUnaryCall ? R : never;
type UnaryMethod<C> = { [K in keyof C]: UnaryRequest<C[K]> extends never ? never : K }[keyof C] & string;

export interface CallOptions {
  /** Deadline for this call in milliseconds (default 30 s). */
  timeoutMs?: number;
  /** Sent with the request (e.g. W3C traceparent). */
  metadata?: grpc.Metadata;
}

/** Calls a unary method of a generated client and returns a promise. */
export function unary<C extends grpc.Client, K extends UnaryMethod<C>>(
  client: C,
  method: K,
  request: UnaryRequest<C[K]>,
  options: CallOptions = {},
): Promise<UnaryResponse<C[K]>> {
  const deadline = new Date(Date.now() + (options.timeoutMs ?? 30_000));
  // grpc-js's generated methods take (request, [metadata,] options, callback).
  const fn = client[method] as unknown as (...args: unknown[]) => grpc.ClientUnaryCall;
  return new Promise((resolve, reject) => {
    const callback: grpc.requestCallback<UnaryResponse<C[K]>> = (err, response) => {
      if (err) reject(callError(err));
      else resolve(response as UnaryResponse<C[K]>);
    };
    if (options.metadata) fn.call(client, request, options.metadata, { deadline }, callback);
    else fn.call(client, request, { deadline }, callback);
  });
}

/**
 * A failed call (unary or stream) as a FerryError. A status grpc-js made
 * itself (no details from the agent: a refused connection, a deadline) loses
 * grpc-js's bookkeeping from its message; transport-errors.ts tells what it was.
 */
export function callError(err: grpc.ServiceError): FerryError {
  const error = fromServiceError(err);
  if (error.details.reason !== undefined) return error;
  return new FerryError(error.kind, cleanGrpcMessage(error.message), error.details, { cause: err });
}

export interface FerryClients {
  migration: MigrationServiceClient;
  peer: PeerServiceClient;
  host: HostServiceClient;
  close(): void;
}

/** Adds the default agent port to "host" (IPv6 literals in brackets). */
export function agentTarget(dst: string): string {
  const { host, port } = splitHostPort(dst, DEFAULT_AGENT_PORT);
  return hostPort(host, port);
}

/** Opens one channel to an agent and returns a client per service over it. */
export function connectAgent(hostPort: string, credentials: grpc.ChannelCredentials): FerryClients {
  const v1 = loadFerryProto().grpcObject.ferry.v1;
  const target = agentTarget(hostPort);
  const migration = new v1.MigrationService(target, credentials);
  // The other clients share the first one's channel.
  const channelOverride = migration.getChannel();
  const peer = new v1.PeerService(target, credentials, { channelOverride });
  const host = new v1.HostService(target, credentials, { channelOverride });
  return { migration, peer, host, close: () => migration.close() };
}
