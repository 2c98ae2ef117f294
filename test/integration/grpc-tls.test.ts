// ferryd's gRPC over mutual TLS 1.3 on loopback, with a CA of the test's own:
// the listener (agent/tls/listener.ts), the role check (agent/rpc/auth.ts),
// the RPC log's identity field and certificate reload, against stub services.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../agent/log.js';
import { authInterceptor, callerOf } from '../../agent/rpc/auth.js';
import { unaryHandler } from '../../agent/rpc/handler.js';
import { rpcLogInterceptor } from '../../agent/rpc/logging.js';
import { startGrpcServer, setServing, type RunningServer } from '../../agent/rpc/server.js';
import { listenTls } from '../../agent/tls/listener.js';
import { loadTlsMaterial } from '../../agent/tls/material.js';
import { CertificateStore } from '../../agent/tls/store.js';
import { connectAgent, unary } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import { ScratchPki, credentialsFor, opensslDate, type IssuedCert } from '../support/pki.js';
import { HEALTH_PROTO, loadProtoClient, type HealthClient } from '../support/proto-client.js';
import { refusal } from '../support/refusal.js';
import { until } from '../support/wait.js';

const VM = '6f1c2a7e-3b1d-4c2e-9a8b-0123456789ab';

let ca: ScratchPki;
let otherCa: ScratchPki;
let server: IssuedCert;
let engine: IssuedCert;
let peer: IssuedCert;
let noRole: IssuedCert;
let expired: IssuedCert;
let stranger: IssuedCert;
let store: CertificateStore;
let running: RunningServer;
let target: string;
const logLines: Array<Record<string, unknown>> = [];

before(async () => {
  ca = await ScratchPki.create();
  otherCa = await ScratchPki.create();
  server = await ca.host('agent1', ['127.0.0.1']);
  engine = await ca.engine('engine');
  peer = await ca.host('agent2', ['127.0.0.2']);
  // A certificate from the right CA whose only role Ferry does not know.
  noRole = await ca.host('norole', ['127.0.0.9'], ['--role', 'monitoring']);
  const yearAgo = new Date(Date.now() - 365 * 86400_000);
  expired = await ca.engine('old-engine', [
    '--not-before',
    opensslDate(yearAgo),
    '--not-after',
    opensslDate(new Date(yearAgo.getTime() + 86400_000)),
  ]);
  stranger = await otherCa.engine('engine');

  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
  });
  const log = createLogger({ level: 'debug', human: false, stream });
  store = new CertificateStore({ caFile: ca.caFile, certFile: server.certFile, keyFile: server.keyFile }, log);
  running = await startGrpcServer({
    address: 'unused',
    credentials: grpc.ServerCredentials.createInsecure(),
    listener: async (inject) => {
      const listener = await listenTls({ host: '127.0.0.1', port: 0, material: store.current, onConnection: inject, log });
      store.onChange((m) => listener.update(m));
      return listener;
    },
    services: {
      migration: { Migrate: unaryHandler(async (req) => ({ jobId: 'job-1', vmId: req.vmId, phase: 'MIGRATION_PHASE_QUEUED' })) },
      // Echoes who called, as the Peer service hands it to the core.
      peer: { FinishIncoming: unaryHandler(async (_req, call) => ({ pinholeClosed: callerOf(call)?.name === 'agent2' })) },
      host: { GetStats: unaryHandler(async () => ({ cpuPercent: 1 })) },
    },
    interceptors: [rpcLogInterceptor(log), authInterceptor()],
  });
  setServing(running.health, true);
  target = `127.0.0.1:${running.port}`;
});

after(async () => {
  await running.shutdown(500);
  store.close();
  ca.dispose();
  otherCa.dispose();
});

async function call<T>(creds: grpc.ChannelCredentials, fn: (c: ReturnType<typeof connectAgent>) => Promise<T>): Promise<T> {
  const clients = connectAgent(target, creds);
  try {
    return await fn(clients);
  } finally {
    clients.close();
  }
}

const migrate = (creds: grpc.ChannelCredentials) =>
  call(creds, (c) => unary(c.migration, 'Migrate', { vmId: VM, dst: '127.0.0.2' }, { timeoutMs: 5000 }));

const waitForLog = (match: (l: Record<string, unknown>) => boolean) =>
  until('such a log line', () => logLines.find(match), {
    timeoutMs: 1000,
    everyMs: 20,
    detail: () => `saw:\n${logLines.map((l) => JSON.stringify(l)).join('\n')}`,
  });

test('an engine certificate may call Migrate, and the RPC log names it', async () => {
  const reply = await migrate(credentialsFor(ca.caFile, engine));
  assert.equal(reply.jobId, 'job-1');
  const line = await waitForLog((l) => l.message === 'rpc' && l.method === '/ferry.v1.MigrationService/Migrate' && l.code === 'OK');
  assert.equal(line.identity, 'engine');
});

test('a peer certificate calling Migrate gets PERMISSION_DENIED naming the role', async () => {
  const err = await refusal(migrate(credentialsFor(ca.caFile, peer)));
  assert.equal(err.kind, 'PERMISSION_DENIED');
  assert.match(err.message, /agent2 \(peer\) lacks role engine/);
  await waitForLog((l) => l.message === 'rpc' && l.code === 'PERMISSION_DENIED' && l.identity === 'agent2');
});

test('a peer may call Peer and read Host; an engine may not call Peer', async () => {
  const finished = await call(credentialsFor(ca.caFile, peer), (c) => unary(c.peer, 'FinishIncoming', { jobId: 'j', vmId: VM }));
  assert.equal(finished.pinholeClosed, true, 'the handler saw the caller as agent2');
  const stats = await call(credentialsFor(ca.caFile, peer), (c) => unary(c.host, 'GetStats', {}));
  assert.equal(stats.cpuPercent, 1);
  const err = await refusal(call(credentialsFor(ca.caFile, engine), (c) => unary(c.peer, 'FinishIncoming', { jobId: 'j', vmId: VM })));
  assert.equal(err.kind, 'PERMISSION_DENIED');
  assert.match(err.message, /lacks role peer/);
});

test('a certificate with no Ferry role is denied everything but health', async () => {
  const err = await refusal(call(credentialsFor(ca.caFile, noRole), (c) => unary(c.host, 'GetStats', {})));
  assert.equal(err.kind, 'PERMISSION_DENIED');
  assert.match(err.message, /norole \(monitoring\) lacks role engine or peer/);
});

test('no client certificate: UNAUTHENTICATED, but health still answers', async () => {
  const creds = credentialsFor(ca.caFile);
  const err = await refusal(migrate(creds));
  assert.equal(err.kind, 'UNAUTHENTICATED');
  assert.match(err.message, /no client certificate/);
  assert.equal(await healthCheck(creds), 'SERVING');
});

test('a certificate from another CA is refused at the handshake, with a log line saying so', async () => {
  const err = await refusal(migrate(credentialsFor(ca.caFile, stranger)));
  assert.equal(err.kind, 'UNAVAILABLE');
  const line = await waitForLog((l) => l.message === 'TLS client refused' && /not signed by the cluster CA/.test(String(l.reason)));
  assert.match(String(line.subject), /CN=engine/);
});

test('an expired client certificate is refused, and the log says when it expired', async () => {
  const err = await refusal(migrate(credentialsFor(ca.caFile, expired)));
  assert.equal(err.kind, 'UNAVAILABLE');
  await waitForLog((l) => l.message === 'TLS client refused' && /client certificate expired at \d{4}-/.test(String(l.reason)));
});

test('plaintext and TLS 1.2 clients do not get in', async () => {
  const plain = await refusal(migrate(grpc.credentials.createInsecure()));
  assert.equal(plain.kind, 'UNAVAILABLE');
  await waitForLog((l) => l.message === 'TLS handshake failed');
  assert.match(await tls12(), /PROTOCOL_VERSION|VERSION/);
});

/** A TLS 1.2 client's fate: 'connected', or the error code. */
function tls12(): Promise<string> {
  return new Promise<string>((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: running.port,
      ca: readFileSync(ca.caFile),
      maxVersion: 'TLSv1.2',
      servername: 'agent1',
    });
    s.on('secureConnect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

test('a renewed server certificate is served after reload, without a restart', async () => {
  const before = await serverFingerprint();
  // Renew: a new certificate and key for the same host, swapped in by rename
  // the way renewal tools do it.
  const renewed = await ca.host('agent1', ['127.0.0.1'], [], join(ca.dir, 'renewed'));
  copyFileSync(renewed.keyFile, `${server.keyFile}.new`);
  copyFileSync(renewed.certFile, `${server.certFile}.new`);
  renameSync(`${server.keyFile}.new`, server.keyFile);
  renameSync(`${server.certFile}.new`, server.certFile);
  assert.equal(store.reload('test').outcome, 'reloaded');
  const after = await serverFingerprint();
  assert.notEqual(after, before);
  assert.equal(after, store.current.identity.fingerprint256);
  // Calls keep working with the new certificate, and it is still TLS 1.3 only.
  assert.equal((await migrate(credentialsFor(ca.caFile, engine))).jobId, 'job-1');
  assert.match(await tls12(), /PROTOCOL_VERSION|VERSION/);
});

test('a reload to an expired certificate is refused and the old one stays', async () => {
  const current = store.current.identity.fingerprint256;
  const yearAgo = new Date(Date.now() - 365 * 86400_000);
  const stale = await ca.host(
    'agent1',
    ['127.0.0.1'],
    ['--not-before', opensslDate(yearAgo), '--not-after', opensslDate(new Date(yearAgo.getTime() + 86400_000))],
    join(ca.dir, 'stale'),
  );
  const keep = { cert: readFileSync(server.certFile), key: readFileSync(server.keyFile) };
  copyFileSync(stale.certFile, server.certFile);
  copyFileSync(stale.keyFile, server.keyFile);
  try {
    assert.equal(store.reload('test').outcome, 'refused');
    const line = await waitForLog((l) => l.message === 'TLS reload refused: keeping the previous certificate');
    assert.match(String(line.error), /expired at/);
    assert.equal(await serverFingerprint(), current);
  } finally {
    writeFileSync(server.certFile, keep.cert);
    writeFileSync(server.keyFile, keep.key);
  }
});

function serverFingerprint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: running.port,
      ca: readFileSync(ca.caFile),
      servername: 'agent1',
      ALPNProtocols: ['h2'],
      cert: readFileSync(engine.certFile),
      key: readFileSync(engine.keyFile),
    });
    s.on('secureConnect', () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.on('error', reject);
  });
}

function healthCheck(creds: grpc.ChannelCredentials): Promise<string> {
  const client = loadProtoClient<HealthClient>(HEALTH_PROTO, 'grpc.health.v1.Health', target, creds);
  return new Promise((resolve, reject) =>
    client.Check({ service: '' }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res.status);
    }),
  );
}

test("ferryd refuses to start on its own certificate when it is expired, not yet valid, not the CA's, or not its key's", async () => {
  const day = 86400_000;
  const at = (ms: number) => opensslDate(new Date(ms));
  const files = (cert: IssuedCert, key = cert.keyFile, caFile = ca.caFile) => ({ caFile, certFile: cert.certFile, keyFile: key });
  const refused = (f: Parameters<typeof loadTlsMaterial>[0], re: RegExp) =>
    assert.throws(
      () => loadTlsMaterial(f),
      (e) => isFerryError(e, 'FAILED_PRECONDITION') && re.test(e.message),
      String(re),
    );
  const old = await ca.host(
    'agent1',
    ['127.0.0.1'],
    ['--not-before', at(Date.now() - 10 * day), '--not-after', at(Date.now() - day)],
    join(ca.dir, 'own-old'),
  );
  refused(files(old), /expired at \d{4}-.*ferry-pki host/);
  const future = await ca.host(
    'agent1',
    ['127.0.0.1'],
    ['--not-before', at(Date.now() + day), '--not-after', at(Date.now() + 10 * day)],
    join(ca.dir, 'own-future'),
  );
  refused(files(future), /not valid yet: it starts at/);
  const foreign = await otherCa.host('agent1', ['127.0.0.1']);
  refused(files(foreign), /is not signed by the CA in/);
  refused(files(server, peer.keyFile), /is not the private key of/);
  refused(
    { caFile: join(ca.dir, 'missing.pem'), certFile: server.certFile, keyFile: server.keyFile },
    /cannot read the cluster CA certificate .*tls\.ca_file/,
  );
  const soon = await ca.host('agent1', ['127.0.0.1'], ['--days', '3'], join(ca.dir, 'own-soon'));
  assert.match(loadTlsMaterial(files(soon)).warnings.join('\n'), /expires at .*renew it soon/);
  const engineAsAgent = loadTlsMaterial(files(engine));
  assert.match(engineAsAgent.warnings.join('\n'), /has no role peer/);
});

test('a certificate replaced on disk is picked up by the file watch, no signal needed', async () => {
  const dir = join(ca.dir, 'watched');
  const first = await ca.host('agent9', ['127.0.0.9'], [], join(dir, 'agent9'));
  const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const watched = new CertificateStore({ caFile: ca.caFile, ...first }, log as never);
  try {
    const changed = new Promise<string>((resolve) => watched.onChange((m) => resolve(m.identity.fingerprint256)));
    watched.watch(100);
    const next = await ca.host('agent9', ['127.0.0.9'], [], join(dir, 'next'));
    renameSync(next.keyFile, first.keyFile);
    renameSync(next.certFile, first.certFile);
    const fingerprint = await changed;
    assert.equal(fingerprint, watched.current.identity.fingerprint256);
    assert.notEqual(fingerprint, undefined);
  } finally {
    watched.close();
  }
});
