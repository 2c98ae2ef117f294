// A gRPC client of a service that only its .proto file describes (health, reflection): the
// compiler cannot see that file's methods, so the caller names the interface it expects and
// the lookup checks that the service exists.
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const require = createRequire(import.meta.url);

export const HEALTH_PROTO = require.resolve('grpc-health-check/proto/health/v1/health.proto');

/** grpc.health.v1.Health as health.proto defines it (enums as strings). */
export interface HealthClient extends grpc.Client {
  Check(
    request: { service: string },
    callback: (err: grpc.ServiceError | null, response: { status: string }) => void,
  ): grpc.ClientUnaryCall;
}

/** A client of `service` ("grpc.health.v1.Health") from the proto file at `protoPath`. */
export function loadProtoClient<C extends grpc.Client>(
  protoPath: string,
  service: string,
  target: string,
  credentials: grpc.ChannelCredentials,
): C {
  const definition = protoLoader.loadSync(protoPath, { keepCase: true, defaults: true, enums: String });
  type Node = grpc.GrpcObject | grpc.ServiceClientConstructor | grpc.ProtobufTypeDefinition;
  let node: Node = grpc.loadPackageDefinition(definition);
  for (const name of service.split('.')) {
    const next: Node | undefined = typeof node === 'function' || 'format' in node ? undefined : node[name];
    if (next === undefined) throw new Error(`${protoPath} defines no ${service}`);
    node = next;
  }
  if (typeof node !== 'function') throw new Error(`${service} in ${protoPath} is a message, not a service`);
  return new node(target, credentials) as unknown as C;
}
