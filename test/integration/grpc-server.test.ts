// ferryd's gRPC surface: health, reflection, and the contract's methods
// answering (UNIMPLEMENTED until their issue lands), over a real socket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startGrpcServer, setServing, type RunningServer } from '../../agent/rpc/server.js';
import { connectAgent, unary, type FerryClients } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';

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

function loadClient(protoPath: string, service: string): grpc.Client & Record<string, Function> {
  const def = protoLoader.loadSync(protoPath, { keepCase: true, defaults: true, enums: String });
  const ctor = service.split('.').reduce<any>((o, k) => o[k], grpc.loadPackageDefinition(def));
  return new ctor(target, grpc.credentials.createInsecure());
}

test('health answers NOT_SERVING until the agent is ready, then SERVING', async () => {
  const health = loadClient(require.resolve('grpc-health-check/proto/health/v1/health.proto'), 'grpc.health.v1.Health');
  const check = (service: string) =>
    new Promise<string>((resolve, reject) =>
      health.Check({ service }, (err: Error | null, res: { status: string }) => (err ? reject(err) : resolve(res.status))),
    );
  assert.equal(await check('ferry.v1.Migration'), 'NOT_SERVING');
  setServing(running.health, true);
  assert.equal(await check(''), 'SERVING');
  assert.equal(await check('ferry.v1.Peer'), 'SERVING');
  health.close();
});

test('reflection lists the Ferry services', async () => {
  const protoPath = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  const reflection = loadClient(protoPath, 'grpc.reflection.v1.ServerReflection');
  const call = reflection.ServerReflectionInfo() as grpc.ClientDuplexStream<any, any>;
  const reply = await new Promise<any>((resolve, reject) => {
    call.on('data', resolve);
    call.on('error', reject);
    call.write({ list_services: '' });
  });
  call.end();
  const names = reply.list_services_response.service.map((s: { name: string }) => s.name).sort();
  for (const name of ['ferry.v1.Host', 'ferry.v1.Migration', 'ferry.v1.Peer']) assert.ok(names.includes(name), `${name} in ${names}`);
  reflection.close();
});

test('methods without an implementation answer UNIMPLEMENTED, mapped to a FerryError', async () => {
  await assert.rejects(unary(clients.host, 'GetCapabilities', {}), (err) => isFerryError(err, 'UNIMPLEMENTED'));
  await assert.rejects(unary(clients.peer, 'FinishIncoming', { jobId: 'x' }), (err) => isFerryError(err, 'UNIMPLEMENTED'));
});
