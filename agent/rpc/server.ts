/**
 * Builds ferryd's gRPC server: the three Ferry services, the standard health
 * service and server reflection. Services are thin (see the *-service.ts
 * files): they validate, call the core and map errors; any method a service
 * does not implement yet answers UNIMPLEMENTED (grpc-js's default handler).
 */
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { loadFerryProto } from '../../shared/proto.js';
import type { MigrationServiceHandlers } from '../../shared/generated/ferry/v1/MigrationService.js';
import type { PeerServiceHandlers } from '../../shared/generated/ferry/v1/PeerService.js';
import type { HostServiceHandlers } from '../../shared/generated/ferry/v1/HostService.js';

export interface FerryServices {
  migration: Partial<MigrationServiceHandlers>;
  peer: Partial<PeerServiceHandlers>;
  host: Partial<HostServiceHandlers>;
}

export const SERVICE_NAMES = ['ferry.v1.MigrationService', 'ferry.v1.PeerService', 'ferry.v1.HostService'] as const;

/**
 * How the server notices clients that are gone. Watch* streams last as long
 * as a migration (or, for an engine, as long as it runs), and a client that
 * vanishes without closing its connection (power loss, a dropped route, a
 * killed VM running the engine) leaves no FIN or RST behind: the stream would
 * hold its watcher for ever. So the server pings every connection after
 * `timeMs` without a frame from it and closes it when the ping is not
 * answered within `timeoutMs`; the calls on it end CANCELLED, which frees
 * their watchers (migration-service.ts). A dead client is noticed within
 * about 80 s; the cost is one 8-byte HTTP/2 PING a minute per idle connection.
 * Connections without any call for `idleMs` are closed with a GOAWAY (clients
 * reconnect transparently on their next call).
 *
 * Clients may ping the server too (grpc.keepalive_time_ms on their channel,
 * with grpc.keepalive_permit_without_calls to ping between calls):
 * grpc-js servers enforce no minimum ping interval, so no ping is refused
 * with ENHANCE_YOUR_CALM / too_many_pings. (grpc.keepalive_permit_without_calls
 * is a client option only; grpc-js servers ping whether calls run or not.)
 * See https://github.com/grpc/grpc/blob/master/doc/keepalive.md.
 */
export interface KeepaliveSettings {
  timeMs: number;
  timeoutMs: number;
  idleMs: number;
}

export const SERVER_KEEPALIVE: KeepaliveSettings = { timeMs: 60_000, timeoutMs: 20_000, idleMs: 30 * 60_000 };

export interface RunningServer {
  server: grpc.Server;
  /** The port actually bound (useful when asked for port 0). */
  port: number;
  health: HealthImplementation;
  /** Stops accepting calls and waits for running ones, up to graceMs. */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * A listener that owns its sockets (agent/tls/listener.ts: TLS with client
 * certificates checked by Ferry) and hands each accepted connection to the
 * gRPC server through `inject`.
 */
export type ConnectionSource = (inject: (connection: Duplex) => void) => Promise<{ port: number; close(): Promise<void> }>;

export async function startGrpcServer(options: {
  address: string;
  /** grpc-js listens itself with these credentials (insecure, or plain grpc-js TLS)... */
  credentials: grpc.ServerCredentials;
  /** ...unless a listener of our own is given: then `address` and `credentials` are not used. */
  listener?: ConnectionSource;
  services: FerryServices;
  /** Run around every call, e.g. the RPC log (agent/rpc/logging.ts). */
  interceptors?: grpc.ServerInterceptor[];
  /** SERVER_KEEPALIVE unless a test needs it faster. */
  keepalive?: KeepaliveSettings;
}): Promise<RunningServer> {
  const { definition, grpcObject } = loadFerryProto();
  const v1 = grpcObject.ferry.v1;
  const keepalive = options.keepalive ?? SERVER_KEEPALIVE;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.max_connection_idle_ms': keepalive.idleMs,
    interceptors: options.interceptors ?? [],
  });

  server.addService(v1.MigrationService.service, options.services.migration as grpc.UntypedServiceImplementation);
  server.addService(v1.PeerService.service, options.services.peer as grpc.UntypedServiceImplementation);
  server.addService(v1.HostService.service, options.services.host as grpc.UntypedServiceImplementation);

  // Health starts NOT_SERVING: the composition root flips it once libvirt is
  // connected and the firewall reconciled, the same moment it tells systemd.
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  for (const name of SERVICE_NAMES) health.setStatus(name, 'NOT_SERVING');
  health.addToServer(server);
  new ReflectionService(definition).addToServer(server);

  let closeListener: () => Promise<void> = async () => undefined;
  let port: number;
  if (options.listener) {
    // The injected connections are already secured (or deliberately not):
    // grpc-js speaks HTTP/2 over them as they are.
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const own = await options.listener((connection) => injector.injectConnection(connection));
    port = own.port;
    closeListener = () => own.close();
  } else {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(options.address, options.credentials, (err, boundPort) =>
        err ? reject(new Error(`cannot listen on ${options.address}: ${err.message}`)) : resolve(boundPort),
      );
    });
  }

  return {
    server,
    port,
    health,
    shutdown: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        // Stop accepting first (its promise settles only when every socket has
        // ended, which tryShutdown below brings about: not waited for).
        void closeListener();
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
