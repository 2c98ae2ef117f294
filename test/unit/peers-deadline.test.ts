// The PeerAgents adapter bounds each call it makes: a destination agent that
// accepts the connection but never answers is DEADLINE_EXCEEDED, naming the
// destination and the call (the core adds no deadline of its own).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { GrpcPeers } from '../../agent/peers/grpc-peers.js';
import { loadFerryProto } from '../../shared/proto.js';
import { isFerryError } from '../../shared/errors.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const CALL_MS = 200;

test('a destination that never answers PrepareIncoming (or PrepareRecovery): DEADLINE_EXCEEDED after the call deadline, naming it', async () => {
  const server = new grpc.Server();
  const silent = () => {}; // never calls back
  server.addService(loadFerryProto().grpcObject.ferry.v1.PeerService.service, {
    PrepareIncoming: silent,
    PrepareRecovery: silent,
    FinishIncoming: silent,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const insecure = grpc.credentials.createInsecure();
  const peers = new GrpcPeers(() => insecure, CALL_MS);
  const dst = `127.0.0.1:${port}`;
  try {
    const started = Date.now();
    await assert.rejects(
      peers.prepareIncoming(dst, {
        vmId: VM,
        jobId: 'j1',
        sourceHost: 'lab1',
        sourceMigrationAddress: '198.19.0.1',
        dstqemu: '',
        migrationNetwork: '',
        copyStorage: false,
        memoryBytes: 0,
      }),
      (e) =>
        isFerryError(e, 'DEADLINE_EXCEEDED') &&
        e.message.startsWith(`destination agent ${dst} did not answer PrepareIncoming within 0.2 s`),
    );
    const took = Date.now() - started;
    assert.ok(took >= CALL_MS - 5 && took < CALL_MS + 1000, `took ${took} ms`);
    await assert.rejects(
      peers.prepareRecovery(dst, {
        vmId: VM,
        jobId: 'j1',
        sourceHost: 'lab1',
        sourceMigrationAddress: '198.19.0.1',
        dstqemu: '',
        migrationNetwork: '',
      }),
      (e) => isFerryError(e, 'DEADLINE_EXCEEDED') && /did not answer PrepareRecovery within 0\.2 s/.test(e.message),
    );
    await assert.rejects(
      peers.finishIncoming(dst, { jobId: 'j1', vmId: VM, success: false, errorMessage: '' }),
      (e) => isFerryError(e, 'DEADLINE_EXCEEDED') && /did not answer FinishIncoming within 0\.2 s/.test(e.message),
    );
  } finally {
    peers.close();
    server.forceShutdown();
  }
});
