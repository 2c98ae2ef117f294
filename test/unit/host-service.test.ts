// The Host gRPC service over a loopback socket, with in-memory ports, and the
// RPC log interceptor: one JSON line per call with method, peer, identity,
// code and duration.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { loadFerryProto } from '../../shared/proto.js';
import { connectAgent, unary, type FerryClients } from '../../shared/client.js';
import { FerryError, isFerryError } from '../../shared/errors.js';
import { createHostService } from '../../agent/rpc/host-service.js';
import { rpcLogInterceptor } from '../../agent/rpc/logging.js';
import { createHostInfo, type HostInfo } from '../../agent/host/host-info.js';
import type { HypervisorInfo, VmSummary } from '../../agent/host/host-facts.js';
import type { SystemProbe } from '../../agent/host/system-probe.js';
import { createLogger } from '../../agent/log.js';
import { validateConfig } from '../../agent/config/validate.js';
import { sleep } from '../support/wait.js';
import type { MigrationStatus } from '../../agent/migration/index.js';
import { MigrationJob } from '../../agent/migration/jobs/migration-job.js';
import { remoteCommand } from '../support/migration-fixtures.js';

const vm = (name: string, id: string, state = 'running'): VmSummary => ({
  id,
  name,
  state,
  stateReason: state === 'paused' ? 'migration' : '',
  memoryBytes: 2 ** 30,
  vcpus: 2,
  persistent: true,
});

let vms: VmSummary[] | Error = [
  vm('web', 'b0000000-0000-4000-8000-000000000002'),
  vm('db', 'a0000000-0000-4000-8000-000000000001', 'paused'),
];
const hypervisor: HypervisorInfo = {
  hostname: async () => 'hv1',
  hostUuid: async () => 'da97b705-22e3-4e51-9cce-948cca97b11a',
  libvirtVersion: async () => '9.0.0',
  qemuVersion: async () => '7.2.19',
  listVms: async () => {
    if (vms instanceof Error) throw vms;
    return vms;
  },
};
const system: SystemProbe = {
  cpu: async () => ({ model: 'Test CPU', vendor: 'GenuineIntel', cores: 4, threads: 8, flags: ['vmx'] }),
  memory: async () => ({ totalBytes: 2 ** 36, usedBytes: 2 ** 34, availableBytes: 2 ** 35 }),
  nics: async () => [
    { name: 'eth1', addresses: ['198.19.0.1/24'], mac: 'aa:bb:cc:dd:ee:ff', speedMbps: 25000, mtu: 9000, state: 'up', isDefault: false },
  ],
  nicCounters: async () => [{ name: 'eth1', rxBytes: 2 ** 40, txBytes: 5 }],
  cpuPercent: async () => 7,
  kvmAvailable: async () => true,
};

/** What the migration core answers for its jobs paused in post-copy. */
let paused: MigrationStatus[] = [];

const logStream = new PassThrough();
const logLines: Record<string, unknown>[] = [];
logStream.on('data', (chunk: Buffer) => {
  for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
});

let server: grpc.Server;
let host: HostInfo;
let clients: FerryClients;

before(async () => {
  const config = validateConfig({ tree: { tls: { insecure: true }, migration: { network: '198.19.0.0/24' } } });
  host = createHostInfo({
    config,
    system,
    hypervisor,
    migrations: {
      counts: () => ({ outgoing: 1, incoming: 2, queued: 3 }),
      isMigrating: (id) => id.startsWith('a'),
      pausedInPostcopy: () => paused,
    },
    ferryVersion: '9.9.9',
    sampleIntervalMs: 0,
  });
  const log = createLogger({ level: 'debug', human: false, stream: logStream });
  server = new grpc.Server({ interceptors: [rpcLogInterceptor(log)] });
  server.addService(loadFerryProto().grpcObject.ferry.v1.HostService.service, createHostService(host));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  clients = connectAgent(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

after(() => {
  clients.close();
  host.close();
  server.forceShutdown();
});

test('GetCapabilities answers the facts in the contract types', async () => {
  const caps = await unary(clients.host, 'GetCapabilities', {});
  assert.equal(caps.hostname, 'hv1');
  assert.equal(caps.ferryVersion, '9.9.9');
  assert.equal(caps.memoryBytes, 2 ** 36);
  assert.deepEqual(caps.cpu, { model: 'Test CPU', vendor: 'GenuineIntel', cores: 4, threads: 8, flags: ['vmx'] });
  assert.deepEqual(caps.nics, [
    {
      name: 'eth1',
      addresses: ['198.19.0.1/24'],
      mac: 'aa:bb:cc:dd:ee:ff',
      speedMbps: 25000,
      mtu: 9000,
      state: 'up',
      migration: true,
      management: false,
    },
  ]);
  assert.deepEqual(caps.migrationNetwork, {
    cidr: '198.19.0.0/24',
    interface: 'eth1',
    address: '198.19.0.1',
    up: true,
    link: '',
    downReason: '',
  });
  assert.deepEqual(caps.limits, { maxOutgoing: 2, maxIncoming: 2, portRangeFirst: 49152, portRangeLast: 49215 });
  assert.equal(caps.insecure, true);
  assert.equal(caps.kvmAvailable, true);
  assert.match(caps.warnings[0]!, /^INSECURE/);
});

test('GetCapabilities lists the jobs paused in post-copy, oldest pause first, with their recovery; none when there is none', async () => {
  assert.deepEqual((await unary(clients.host, 'GetCapabilities', {})).postcopyPaused, []);
  const job = (id: string, phase: 'postcopy-paused' | 'recovering', pausedAt: number): MigrationStatus => ({
    ...new MigrationJob(id, remoteCommand('c0000000-0000-4000-8000-00000000000c'), () => 1_000, 'preparing').snapshot(),
    phase,
    recovery: {
      cause: 'connection reset',
      pausedAt,
      deadlineAt: pausedAt + 600_000,
      attempts: 1,
      lastError: '',
      nextAttemptAt: 0,
      resumed: 0,
    },
  });
  paused = [job('j-late', 'recovering', 2_000_000_000_000), job('j-early', 'postcopy-paused', 1_900_000_000_000)];
  try {
    const listed = (await unary(clients.host, 'GetCapabilities', {})).postcopyPaused;
    assert.deepEqual(
      listed.map((p) => [p.jobId, p.phase, p.recovery?.pausedAt?.seconds]),
      [
        ['j-early', 'MIGRATION_PHASE_POSTCOPY_PAUSED', 1_900_000_000],
        ['j-late', 'MIGRATION_PHASE_RECOVERING', 2_000_000_000],
      ],
    );
    assert.equal(listed[0]?.recovery?.cause, 'connection reset');
    assert.equal(listed[0]?.recovery?.nextAttemptAt, null, 'no attempt planned: unset');
  } finally {
    paused = [];
  }
});

test('GetStats: time, memory, NIC counters (64-bit), migration counts', async () => {
  const before = Date.now();
  const stats = await unary(clients.host, 'GetStats', {});
  const ms = stats.time!.seconds * 1000 + stats.time!.nanos / 1e6;
  assert.ok(ms >= before - 1000 && ms <= Date.now(), `time ${ms}`);
  assert.equal(stats.cpuPercent, 7);
  assert.equal(stats.memoryAvailableBytes, 2 ** 35);
  assert.deepEqual(stats.nics, [{ name: 'eth1', rxBytes: 2 ** 40, txBytes: 5, rxBytesPerS: 0, txBytesPerS: 0 }]);
  assert.deepEqual([stats.outgoingMigrations, stats.incomingMigrations, stats.queuedMigrations], [1, 2, 3]);
});

test('ListVms: sorted by name, with state, memory and the migrating flag', async () => {
  const { vms: listed } = await unary(clients.host, 'ListVms', {});
  assert.deepEqual(
    listed.map((v) => [v.name, v.state, v.stateReason, v.memoryBytes, v.vcpus, v.migrating, v.persistent]),
    [
      ['db', 'VM_STATE_PAUSED', 'migration', 2 ** 30, 2, true, true],
      ['web', 'VM_STATE_RUNNING', '', 2 ** 30, 2, false, true],
    ],
  );
});

test('a FerryError from a port keeps its kind across the wire', async () => {
  vms = new FerryError('UNAVAILABLE', 'libvirt: not connected');
  await assert.rejects(unary(clients.host, 'ListVms', {}), (err) => isFerryError(err, 'UNAVAILABLE') && /not connected/.test(err.message));
  vms = new Error('boom');
  await assert.rejects(unary(clients.host, 'ListVms', {}), (err) => isFerryError(err, 'INTERNAL'));
  vms = [];
});

test('one "rpc" log line per call: method, peer, identity, code, duration', async () => {
  logLines.length = 0;
  await unary(clients.host, 'GetStats', {});
  vms = new FerryError('UNAVAILABLE', 'libvirt: not connected');
  await assert.rejects(unary(clients.host, 'ListVms', {}));
  vms = new Error('boom');
  await assert.rejects(unary(clients.host, 'ListVms', {}));
  vms = [];
  await new Promise((resolve) => setImmediate(resolve));

  const rpc = logLines.filter((l) => l.message === 'rpc');
  assert.equal(rpc.length, 3, JSON.stringify(logLines));
  const [ok, unavailable, internal] = rpc as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
  assert.equal(ok.method, '/ferry.v1.HostService/GetStats');
  assert.equal(ok.code, 'OK');
  assert.equal(ok.level, 'info');
  assert.match(String(ok.peer), /^(ipv4:)?127\.0\.0\.1:\d+$/);
  assert.equal(ok.identity, null, 'no client certificate without TLS');
  assert.equal(typeof ok.durationMs, 'number');
  assert.equal(ok.details, undefined);
  assert.ok(typeof ok.timestamp === 'string');
  assert.equal(unavailable.code, 'UNAVAILABLE');
  assert.equal(unavailable.details, 'libvirt: not connected');
  assert.equal(unavailable.level, 'info');
  assert.equal(internal.code, 'INTERNAL');
  assert.equal(internal.level, 'error', 'a server fault stands out');
});

test('a call cancelled by its deadline is logged once, as CANCELLED or DEADLINE_EXCEEDED', async () => {
  logLines.length = 0;
  let release!: () => void;
  vms = new Error('unused');
  const slow = new Promise<VmSummary[]>((resolve) => (release = () => resolve([])));
  const original = hypervisor.listVms;
  hypervisor.listVms = () => slow;
  await assert.rejects(unary(clients.host, 'ListVms', {}, { timeoutMs: 50 }), (err) => isFerryError(err, 'DEADLINE_EXCEEDED'));
  // The handler answers well after the server has seen the deadline pass.
  await sleep(100);
  release();
  hypervisor.listVms = original;
  vms = [];
  await sleep(50);
  const rpc = logLines.filter((l) => l.message === 'rpc');
  assert.equal(rpc.length, 1, JSON.stringify(rpc));
  assert.match(String(rpc[0]!.code), /^(CANCELLED|DEADLINE_EXCEEDED)$/);
});
