// The /metrics endpoint over real sockets on 127.0.0.1: the text format
// (parsed), 404 for other paths and 405 for other methods, the listen errors
// that say what to change; then the real ferryd (on a mock libvirtd, without
// firewall) serving its metrics: libvirt up, the limits in force, its own
// gRPC calls counted by method and code, nothing at all when
// metrics.enabled is false, and running without the endpoint when its port
// is taken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { AgentMetrics, startMetricsServer } from '../../agent/telemetry/metrics/index.js';
import { connectAgent, unary } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import { MockLibvirtd } from '../support/mock-libvirtd.js';
import { parseScrape } from '../support/prometheus-text.js';
import { httpGet } from '../support/scrape.js';
import { until } from '../support/wait.js';
import { freePort, testFerrydConfig } from '../support/ferryd-config.js';

const DIST = fileURLToPath(new URL('../../', import.meta.url));
const REPO = path.resolve(DIST, '..');

function metricsOf() {
  return new AgentMetrics({
    runningJobs: () => [],
    incomingReservations: () => 1,
    limits: () => ({ maxOutgoing: 2, maxIncoming: 2 }),
    libvirtConnected: () => false,
    migrationNic: () => ({ name: 'eth1', up: false }),
  });
}

test('GET /metrics answers the text format; other paths 404, other methods 405', async () => {
  const server = await startMetricsServer({ address: '127.0.0.1', port: 0, registry: metricsOf().registry });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const page = await httpGet(`${base}/metrics`);
    assert.equal(page.status, 200);
    assert.match(page.contentType, /^text\/plain; version=0\.0\.4/);
    const scrape = parseScrape(page.body);
    assert.equal(scrape.value('ferry_host_libvirt_up'), 0);
    assert.equal(scrape.value('ferry_host_migration_nic_up', { nic: 'eth1' }), 0);
    assert.equal(scrape.value('ferry_migration_incoming_reservations'), 1);
    assert.equal(scrape.types.get('ferry_migration_duration_seconds'), 'histogram');
    assert.equal((await httpGet(`${base}/metrics?x=1`)).status, 200, 'a query string is ignored');
    for (const other of ['/', '/metrics/', '/metrics/x', '/healthz']) {
      const answer = await httpGet(`${base}${other}`);
      assert.equal(answer.status, 404, other);
      assert.match(answer.body, /the metrics are at \/metrics/);
    }
    const post = await httpGet(`${base}/metrics`, 'POST');
    assert.equal(post.status, 405);
    assert.match(post.body, /POST is not allowed: use GET/);
    assert.equal((await httpGet(`${base}/metrics`, 'HEAD')).status, 200);
  } finally {
    await server.close();
  }
});

test('a port in use or an address not of this host: the error names the key to change', async () => {
  const first = await startMetricsServer({ address: '127.0.0.1', port: 0, registry: metricsOf().registry });
  try {
    await assert.rejects(
      startMetricsServer({ address: '127.0.0.1', port: first.port, registry: metricsOf().registry }),
      (err) =>
        isFerryError(err, 'FAILED_PRECONDITION') &&
        /EADDRINUSE; another process listens there: choose another metrics.port/.test(err.message),
    );
  } finally {
    await first.close();
  }
  await assert.rejects(
    startMetricsServer({ address: '192.0.2.1', port: 0, registry: metricsOf().registry }),
    (err) => isFerryError(err, 'FAILED_PRECONDITION') && /192\.0\.2\.1:0: EADDRNOTAVAIL; .*set metrics.address/.test(err.message),
  );
});

/** The real ferryd on a mock libvirtd, with these extra lines of ferryd.yaml. */
async function withFerryd(extra: string[], body: (ports: { grpc: number }, log: () => string) => Promise<void>): Promise<void> {
  const libvirtd = await MockLibvirtd.start();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ferryd-metrics-'));
  const port = await freePort();
  const configFile = path.join(work, 'ferryd.yaml');
  fs.writeFileSync(configFile, testFerrydConfig({ port, libvirtSocket: libvirtd.path, work, extra }));
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FERRY_') && name !== 'JOURNAL_STREAM'));
  const child = spawn(process.execPath, [path.join(DIST, 'agent/main.js'), 'run', '--config', configFile], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await until('ferryd ready', () => output.includes('"ferryd ready"'), { timeoutMs: 30_000, detail: () => output });
    await body({ grpc: port }, () => output);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await libvirtd.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

test('the real ferryd serves its metrics: libvirt up, its limits, and its gRPC calls by method and code', async () => {
  const metricsPort = await freePort();
  await withFerryd(['limits:', '  max_outgoing: 3', 'metrics:', `  port: ${metricsPort}`], async ({ grpc: port }, log) => {
    assert.match(log(), new RegExp(`"metrics endpoint listening".*"port":${metricsPort}`));
    const clients = connectAgent(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      await unary(clients.migration, 'ListMigrations', {});
      await unary(clients.migration, 'ListMigrations', {});
      await assert.rejects(unary(clients.migration, 'GetMigrationStatus', { job: { jobId: 'not-a-job' } }));
    } finally {
      clients.close();
    }
    // A path the contract does not have: grpc-js answers it before any interceptor, so it makes no series.
    const raw = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const unknown = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.makeUnaryRequest(
        '/ferry.v1.MadeUp/Method',
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (err) => resolve(err),
      ),
    );
    raw.close();
    assert.equal(unknown?.code, grpc.status.UNIMPLEMENTED);
    const page = await httpGet(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(page.status, 200);
    const scrape = parseScrape(page.body);
    assert.equal(scrape.value('ferry_host_libvirt_up'), 1);
    assert.equal(scrape.value('ferry_migration_limit', { direction: 'outgoing' }), 3);
    assert.equal(scrape.value('ferry_grpc_calls_total', { method: '/ferry.v1.MigrationService/ListMigrations', code: 'OK' }), 2);
    const refused = scrape.find('ferry_grpc_calls_total', { method: '/ferry.v1.MigrationService/GetMigrationStatus' });
    assert.equal(refused.length, 1);
    assert.notEqual(refused[0]!.labels.code, 'OK');
    assert.equal(scrape.value('ferry_grpc_call_duration_seconds_count', { method: '/ferry.v1.MigrationService/ListMigrations' }), 2);
    assert.deepEqual(scrape.find('ferry_grpc_calls_total', { method: '/ferry.v1.MadeUp/Method' }), []);
    assert.ok(scrape.value('process_resident_memory_bytes') > 10e6);
    assert.ok(Number.isFinite(scrape.value('nodejs_eventloop_lag_p99_seconds')));
    assert.equal(scrape.value('ferry_pinholes_open'), 0);
  });
});

test('metrics.enabled false: no endpoint; a metrics port in use: ferryd runs without one and says why', async () => {
  const metricsPort = await freePort();
  await withFerryd(['metrics:', '  enabled: false', `  port: ${metricsPort}`], async (_ports, log) => {
    await assert.rejects(httpGet(`http://127.0.0.1:${metricsPort}/metrics`), /ECONNREFUSED/);
    assert.doesNotMatch(log(), /metrics endpoint/);
  });
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const busy = (taken.address() as net.AddressInfo).port;
  try {
    await withFerryd(['metrics:', `  port: ${busy}`], async (_ports, log) => {
      const line = log()
        .split('\n')
        .find((l) => l.includes('"metrics endpoint not started: ferryd runs without it"'));
      assert.match(line ?? log(), /EADDRINUSE; another process listens there: choose another metrics\.port/);
    });
  } finally {
    taken.close();
  }
});
