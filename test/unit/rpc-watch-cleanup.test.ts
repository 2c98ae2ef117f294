// A WatchMigration stream whose client goes away frees its watcher, however
// the client goes: it cancels the call, its connection closes, or its
// connection goes silent (no FIN, no RST: a vanished host) and the server's
// keepalive drops it. Over a loopback server with in-memory ports, the
// client's bytes going through a small TCP relay the test can cut or mute.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { startGrpcServer, type RunningServer } from '../../agent/rpc/server.js';
import { migrationService } from '../../agent/rpc/migration-service.js';
import { connectAgent, type FerryClients } from '../../shared/client.js';
import { fakeOutgoing } from '../support/migration-fixtures.js';
import { remoteCommand } from '../support/migration-fixtures.js';
import { sleep, until } from '../support/wait.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const KEEPALIVE = { timeMs: 150, timeoutMs: 150, idleMs: 60_000 };

const fixture = fakeOutgoing();
let running: RunningServer;
let jobId: string;

before(async () => {
  fixture.hypervisor.addVm(VM);
  running = await startGrpcServer({
    address: '127.0.0.1:0',
    credentials: grpc.ServerCredentials.createInsecure(),
    services: { migration: migrationService({ migrations: fixture.migrations }), peer: {}, host: {} },
    keepalive: KEEPALIVE,
  });
  ({ jobId } = await fixture.migrations.migrate(remoteCommand(VM)));
  await until('perform', () => fixture.hypervisor.isMigrating(VM)); // the job runs until the test ends it
});

after(async () => {
  fixture.hypervisor.complete(VM);
  await running.shutdown(1000);
});

/** A TCP relay to the server: cut() closes both sides, mute() stops forwarding and answering while keeping both open. */
async function relay(port: number) {
  const sockets: net.Socket[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.push(client, upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    for (const s of [client, upstream]) s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    target: `127.0.0.1:${address.port}`,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    mute: () => {
      for (const s of sockets) {
        s.unpipe();
        s.pause();
      }
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** A watch over `target`, resolved once its first message arrived (the server's watcher is in place then). */
async function watchVia(target: string): Promise<{ clients: FerryClients; stream: grpc.ClientReadableStream<unknown> }> {
  const clients = connectAgent(target, grpc.credentials.createInsecure());
  const stream = clients.migration.WatchMigration({ job: { jobId } });
  stream.on('error', () => undefined); // the call ends CANCELLED or UNAVAILABLE: expected here
  await new Promise((resolve) => stream.once('data', resolve));
  return { clients, stream };
}

test('a client that cancels its watch leaves no watcher behind', async () => {
  const { clients, stream } = await watchVia(`127.0.0.1:${running.port}`);
  assert.equal(fixture.migrations.watcherCount(jobId), 1);
  stream.cancel();
  await until('the watcher freed', () => fixture.migrations.watcherCount(jobId) === 0);
  clients.close();
});

test('a client whose connection closes mid-stream leaves no watcher behind', async () => {
  const link = await relay(running.port);
  const { clients } = await watchVia(link.target);
  assert.equal(fixture.migrations.watcherCount(jobId), 1);
  link.cut();
  await until('the watcher freed', () => fixture.migrations.watcherCount(jobId) === 0);
  clients.close();
  link.close();
});

test('a client that vanishes silently is dropped by the keepalive, and its watcher freed', async () => {
  const link = await relay(running.port);
  const { clients } = await watchVia(link.target);
  link.mute(); // no FIN, no RST: only an unanswered ping tells
  await sleep(KEEPALIVE.timeMs / 3);
  assert.equal(fixture.migrations.watcherCount(jobId), 1, 'still there before the keepalive could tell');
  await until('the watcher freed by the keepalive', () => fixture.migrations.watcherCount(jobId) === 0, {
    timeoutMs: 10 * (KEEPALIVE.timeMs + KEEPALIVE.timeoutMs),
  });
  clients.close();
  link.close();
});

test('several watchers of one job: each one that goes frees only its own', async () => {
  const one = await watchVia(`127.0.0.1:${running.port}`);
  const link = await relay(running.port);
  const two = await watchVia(link.target);
  assert.equal(fixture.migrations.watcherCount(jobId), 2);
  link.cut();
  await until('one watcher left', () => fixture.migrations.watcherCount(jobId) === 1);
  one.stream.cancel();
  await until('none left', () => fixture.migrations.watcherCount(jobId) === 0);
  one.clients.close();
  two.clients.close();
  link.close();
});
