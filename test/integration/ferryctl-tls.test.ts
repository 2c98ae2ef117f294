// ferryctl tells TLS failures apart, each with what to do: the agent's
// certificate from another CA or expired, the client's certificate refused
// (and why, when the files show it), TLS against a plaintext agent and the
// reverse, a certificate without the engine role. The real binary, spawned,
// against a recording agent on 127.0.0.1 with certificates from scripts/pki,
// and against ferryd's own TLS listener and role check (agent/tls/listener.ts
// drops a refused certificate without a TLS alert; agent/rpc/auth.ts answers
// PERMISSION_DENIED for a missing role).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../agent/log.js';
import { authInterceptor } from '../../agent/rpc/auth.js';
import { unaryHandler } from '../../agent/rpc/handler.js';
import { type RunningServer, startGrpcServer } from '../../agent/rpc/server.js';
import { listenTls } from '../../agent/tls/listener.js';
import { loadTlsMaterial } from '../../agent/tls/material.js';
import { ferryctl } from '../support/ferryctl.js';
import { type IssuedCert, opensslDate, ScratchPki } from '../support/pki.js';
import { RecordingAgent } from '../support/recording-agent.js';

let ca: ScratchPki;
let stranger: ScratchPki;
let engine: IssuedCert;
let agent: RecordingAgent;
let strangeAgent: RecordingAgent;
let plainAgent: RecordingAgent;
let ferryd: RunningServer;

const serverCredentials = (pki: ScratchPki, cert: IssuedCert) =>
  grpc.ServerCredentials.createSsl(
    readFileSync(pki.caFile),
    [{ cert_chain: readFileSync(cert.certFile), private_key: readFileSync(cert.keyFile) }],
    true,
  );

before(async () => {
  ca = await ScratchPki.create();
  stranger = await ScratchPki.create();
  engine = await ca.engine('engine');
  agent = await RecordingAgent.start(serverCredentials(ca, await ca.host('agent1', ['127.0.0.1'])));
  strangeAgent = await RecordingAgent.start(serverCredentials(stranger, await stranger.host('agent1', ['127.0.0.1'])));
  plainAgent = await RecordingAgent.start();
  const ferrydCert = await ca.host('agent2', ['127.0.0.1']);
  const log = createLogger({ level: 'error', human: false, stream: new PassThrough() });
  ferryd = await startGrpcServer({
    address: 'unused',
    credentials: grpc.ServerCredentials.createInsecure(),
    listener: (inject) =>
      listenTls({
        host: '127.0.0.1',
        port: 0,
        material: loadTlsMaterial({ caFile: ca.caFile, certFile: ferrydCert.certFile, keyFile: ferrydCert.keyFile }),
        onConnection: inject,
        log,
      }),
    services: {
      migration: { SetMigrationLimits: unaryHandler(async () => ({ maxOutgoing: 3, maxIncoming: 2 })) },
      peer: {},
      host: { ListVms: unaryHandler(async () => ({ vms: [] })) },
    },
    interceptors: [authInterceptor()],
  });
});

after(async () => {
  await Promise.all([agent?.close(), strangeAgent?.close(), plainAgent?.close(), ferryd?.shutdown(500)]);
  ca?.dispose();
  stranger?.dispose();
});

const withCert = (target: RecordingAgent, cert: IssuedCert, ...args: string[]) =>
  ferryctl(['host', 'vms', '--from', target.address, '--ca', ca.caFile, '--cert', cert.certFile, '--key', cert.keyFile, ...args]);

test('the right certificates: the call goes through', async () => {
  const result = await withCert(agent, engine);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^UUID +NAME +STATE/);
});

test("the agent's certificate is not from the CA given: said so, naming the CA file", async () => {
  const result = await withCert(strangeAgent, engine);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `ferryctl: TLS with ferryd at ${strangeAgent.address} failed: the agent's certificate is not signed by the CA in ${ca.caFile} (self-signed certificate in certificate chain) — is that the cluster CA?\n`,
  );
});

test('the client certificate is refused: from another CA, or expired, and the message says which', async () => {
  const foreign = await stranger.engine('engine');
  const other = await withCert(agent, foreign);
  assert.equal(other.code, 1);
  assert.match(
    other.stderr,
    new RegExp(
      `^ferryctl: ferryd at ${agent.address} refused the client certificate ${foreign.certFile}.*: it is not signed by the CA in ${ca.caFile}`,
    ),
  );
  const past = new Date(Date.now() - 3 * 86_400_000);
  const expired = await ca.engine('old-engine', [
    '--not-before',
    opensslDate(new Date(past.getTime() - 86_400_000)),
    '--not-after',
    opensslDate(past),
  ]);
  const late = await withCert(agent, expired);
  assert.equal(late.code, 1);
  assert.match(
    late.stderr,
    new RegExp(`refused the client certificate ${expired.certFile}.*: it expired at ${past.toISOString().slice(0, 16)}`),
  );
  assert.doesNotMatch(late.stderr + other.stderr, /Resolution note/);
});

test('TLS against a plaintext agent, and --insecure against a TLS one: each says what to change', async () => {
  const tlsToPlain = await withCert(plainAgent, engine);
  assert.equal(tlsToPlain.code, 1);
  assert.match(tlsToPlain.stderr, /the agent does not speak TLS \(wrong version number\) — it runs with tls\.insecure: use --insecure/);
  const plainToTls = await ferryctl(['host', 'vms', '--from', agent.address, '--insecure']);
  assert.equal(plainToTls.code, 1);
  assert.match(plainToTls.stderr, /closed the connection: it speaks TLS \(the default\) — drop --insecure and give --ca\/--cert\/--key/);
});

test("ferryd's own listener drops a refused certificate without an alert: ferryctl still says whose and why", async () => {
  const address = `127.0.0.1:${ferryd.port}`;
  const args = (cert: IssuedCert) => ['host', 'vms', '--from', address, '--ca', ca.caFile, '--cert', cert.certFile, '--key', cert.keyFile];
  assert.equal((await ferryctl(args(engine))).code, 0, 'the engine certificate is let in');
  const foreign = await stranger.engine('engine2');
  const result = await ferryctl(args(foreign));
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `ferryctl: ferryd at ${address} refused the client certificate ${foreign.certFile}: it is not signed by the CA in ${ca.caFile} (its issuer: ${issuerOf(foreign)})\n`,
  );
});

test('a certificate without the engine role: ferryd says which role is missing, ferryctl says what to get', async () => {
  const peer = await ca.host('agent3', ['127.0.0.3']);
  const address = `127.0.0.1:${ferryd.port}`;
  const result = await ferryctl([
    'limits',
    '--outgoing',
    '3',
    '--from',
    address,
    '--ca',
    ca.caFile,
    '--cert',
    peer.certFile,
    '--key',
    peer.keyFile,
  ]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /lacks role engine, which ferry\.v1\.MigrationService\/SetMigrationLimits requires/);
  assert.match(result.stderr, /\n {2}PERMISSION_DENIED, reason ROLE_MISSING\n {2}the client certificate lacks that role/);
});

function issuerOf(cert: IssuedCert): string {
  return new X509Certificate(readFileSync(cert.certFile)).issuer.replaceAll('\n', ', ');
}
