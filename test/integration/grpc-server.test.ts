// ferryd's gRPC surface: health, reflection, and the contract's methods
// answering (UNIMPLEMENTED until their issue lands), over a real socket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { startGrpcServer, setServing, type RunningServer } from '../../agent/rpc/server.js';
import { connectAgent, unary, type FerryClients } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import { HEALTH_PROTO, loadProtoClient, type HealthClient } from '../support/proto-client.js';

const require = createRequire(import.meta.url);
let running: RunningServer;
let clients: FerryClients;
let target: string;

before(async () => {
  running = await startGrpcServer({
    address: '127.0.0.1:0',
    credentials: grpc.ServerCredentials.createInsecure(),
    services: { migration: {}, peer: {}, host: {} },
  });
  target = `127.0.0.1:${running.port}`;
  clients = connectAgent(target, grpc.credentials.createInsecure());
});

after(async () => {
  clients.close();
  await running.shutdown(1000);
});

interface ReflectionRequest {
  list_services: string;
}
interface ReflectionResponse {
  list_services_response: { service: Array<{ name: string }> };
}
/** grpc.reflection.v1.ServerReflection as reflection.proto defines it, for the one request made here. */
interface ReflectionClient extends grpc.Client {
  ServerReflectionInfo(): grpc.ClientDuplexStream<ReflectionRequest, ReflectionResponse>;
}

test('health answers NOT_SERVING until the agent is ready, then SERVING', async () => {
  const health = loadProtoClient<HealthClient>(HEALTH_PROTO, 'grpc.health.v1.Health', target, grpc.credentials.createInsecure());
  const check = (service: string) =>
    new Promise<string>((resolve, reject) => health.Check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))));
  assert.equal(await check('ferry.v1.MigrationService'), 'NOT_SERVING');
  setServing(running.health, true);
  assert.equal(await check(''), 'SERVING');
  assert.equal(await check('ferry.v1.PeerService'), 'SERVING');
  health.close();
});

test('reflection lists the Ferry services', async () => {
  const protoPath = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  const reflection = loadProtoClient<ReflectionClient>(
    protoPath,
    'grpc.reflection.v1.ServerReflection',
    target,
    grpc.credentials.createInsecure(),
  );
  const call = reflection.ServerReflectionInfo();
  const reply = await new Promise<ReflectionResponse>((resolve, reject) => {
    call.on('data', resolve);
    call.on('error', reject);
    call.write({ list_services: '' });
  });
  call.end();
  const names = reply.list_services_response.service.map((s) => s.name).sort();
  for (const name of ['ferry.v1.HostService', 'ferry.v1.MigrationService', 'ferry.v1.PeerService'])
    assert.ok(names.includes(name), `${name} in ${names}`);
  reflection.close();
});

test('methods without an implementation answer UNIMPLEMENTED, mapped to a FerryError', async () => {
  await assert.rejects(unary(clients.host, 'GetCapabilities', {}), (err) => isFerryError(err, 'UNIMPLEMENTED'));
  await assert.rejects(unary(clients.peer, 'FinishIncoming', { jobId: 'x' }), (err) => isFerryError(err, 'UNIMPLEMENTED'));
});
