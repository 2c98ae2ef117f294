/**
 * Builds ferryd's gRPC server: the three Ferry services, the standard health
 * service and server reflection. Services are thin (see the *-service.ts
 * files): they validate, call the core and map errors; any method a service
 * does not implement yet answers UNIMPLEMENTED (grpc-js's default handler).
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { loadFerryProto } from '../../shared/proto.js';
import type { MigrationHandlers } from '../../shared/generated/ferry/v1/Migration.js';
import type { PeerHandlers } from '../../shared/generated/ferry/v1/Peer.js';
import type { HostHandlers } from '../../shared/generated/ferry/v1/Host.js';

export interface FerryServices {
  migration: Partial<MigrationHandlers>;
  peer: Partial<PeerHandlers>;
  host: Partial<HostHandlers>;
}

export const SERVICE_NAMES = ['ferry.v1.Migration', 'ferry.v1.Peer', 'ferry.v1.Host'] as const;

export interface RunningServer {
  server: grpc.Server;
  /** The port actually bound (useful when asked for port 0). */
  port: number;
  health: HealthImplementation;
  /** Stops accepting calls and waits for running ones, up to graceMs. */
  shutdown(graceMs?: number): Promise<void>;
}

export async function startGrpcServer(options: {
  address: string;
  credentials: grpc.ServerCredentials;
  services: FerryServices;
  /** Run around every call, e.g. the RPC log (agent/rpc/logging.ts). */
  interceptors?: grpc.ServerInterceptor[];
}): Promise<RunningServer> {
  const { definition, grpcObject } = loadFerryProto();
  const v1 = grpcObject.ferry.v1;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
    interceptors: options.interceptors ?? [],
  });

  server.addService(v1.Migration.service, options.services.migration as grpc.UntypedServiceImplementation);
  server.addService(v1.Peer.service, options.services.peer as grpc.UntypedServiceImplementation);
  server.addService(v1.Host.service, options.services.host as grpc.UntypedServiceImplementation);

  // Health starts NOT_SERVING: the composition root flips it once libvirt is
  // connected and the firewall reconciled, the same moment it tells systemd.
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  for (const name of SERVICE_NAMES) health.setStatus(name, 'NOT_SERVING');
  health.addToServer(server);
  new ReflectionService(definition).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.address, options.credentials, (err, boundPort) =>
      err ? reject(new Error(`cannot listen on ${options.address}: ${err.message}`)) : resolve(boundPort),
    );
  });

  return {
    server,
    port,
    health,
    shutdown: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

/** Marks every Ferry service (and the server as a whole) as serving or not. */
export function setServing(health: HealthImplementation, serving: boolean): void {
  const status = serving ? 'SERVING' : 'NOT_SERVING';
  health.setStatus('', status);
  for (const name of SERVICE_NAMES) health.setStatus(name, status);
}
