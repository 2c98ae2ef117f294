// The maintenance methods of the Host gRPC service over a loopback socket, the
// core on in-memory ports (test/support/fake-drain.ts): what crosses the wire
// (the policy as requested, each VM's attempts, the phase in GetCapabilities),
// refusals with their reason and field, WatchMaintenance closing once the
// drain ended and freeing its watcher when the client goes, and no core: UNIMPLEMENTED.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { loadFerryProto } from '../../shared/proto.js';
import { connectAgent, unary, type FerryClients } from '../../shared/client.js';
import { isFerryError, type FerryError } from '../../shared/errors.js';
import type { Maintenance__Output } from '../../shared/generated/ferry/v1/Maintenance.js';
import { createHostService } from '../../agent/rpc/host-service.js';
import type { HostCapabilities, HostInfo } from '../../agent/host/host-info.js';
import type { MaintenanceMode } from '../../agent/maintenance/index.js';
import { FakeDrainMigrations, setup, vm } from '../support/fake-drain.js';
import { settle } from '../support/fake-ports.js';
import { until } from '../support/wait.js';

let servers: grpc.Server[] = [];
let opened: FerryClients[] = [];

const CAPABILITIES: HostCapabilities = {
  hostname: 'lab1',
  hostUuid: '',
  ferryVersion: '0.2.0',
  cpu: { model: '', vendor: '', cores: 1, threads: 1, flags: [] },
  memoryBytes: 2 ** 34,
  nics: [],
  migrationNetwork: { cidr: '', interface: '', address: '', up: false, link: '', downReason: '' },
  libvirtVersion: '9.0.0',
  qemuVersion: '7.2.0',
  kvmAvailable: true,
  firewallBackend: 'none',
  firewallBackendReason: 'firewall.backend is "none"',
  limits: { maxOutgoing: 3, maxIncoming: 2, portRangeFirst: 49152, portRangeLast: 49215 },
  insecure: true,
  warnings: [],
  postcopyPaused: [],
};
const host: HostInfo = {
  capabilities: async () => CAPABILITIES,
  stats: () => Promise.reject(new Error('not used')),
  listVms: async () => [],
  close: () => undefined,
};

async function serve(maintenance?: MaintenanceMode): Promise<FerryClients> {
  const server = new grpc.Server();
  server.addService(loadFerryProto().grpcObject.ferry.v1.HostService.service, createHostService(host, undefined, maintenance));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  servers.push(server);
  const clients = connectAgent(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  opened.push(clients);
  return clients;
}

before(() => {
  servers = [];
  opened = [];
});
after(() => {
  for (const c of opened) c.close();
  for (const s of servers) s.forceShutdown();
});

const refused = (promise: Promise<unknown>) =>
  promise.then(
    () => assert.fail('the call succeeded'),
    (err: unknown) => {
      assert.ok(isFerryError(err), String(err));
      return err as FerryError;
    },
  );

test('Enter, Get, GetCapabilities and Exit over the wire: the policy as requested, attempts with findings, the phase', async () => {
  const { mode, migrations } = setup([vm('a', 2), vm('b', 1)]);
  migrations.blocking.set(FakeDrainMigrations.key(vm('b').id, 'lab2'), [
    { reason: 'DESTINATION_IN_MAINTENANCE', side: 'destination', message: 'lab2 is in maintenance too' },
  ]);
  const clients = await serve(mode);
  assert.equal((await unary(clients.host, 'GetCapabilities', {})).maintenance, 'MAINTENANCE_PHASE_OFF');
  const { maintenance } = await unary(clients.host, 'EnterMaintenance', {
    destinations: [{ host: 'lab2', dstqemu: '198.19.0.2' }],
    policy: { postCopy: true, maxBandwidthMibps: 0 },
    maxParallel: 0,
  });
  assert.equal(maintenance?.phase, 'MAINTENANCE_PHASE_DRAINING');
  assert.ok(maintenance?.enteredTime);
  assert.equal(maintenance?.maxParallel, 3, "0: the host's outgoing limit, resolved");
  assert.deepEqual(maintenance?.destinations, [{ host: 'lab2', dstqemu: '198.19.0.2' }]);
  // Only the fields the caller set, 0 included: unset ones stay unset (the host's defaults).
  assert.deepEqual(
    [
      maintenance?.policy?.postCopy,
      maintenance?.policy?.maxBandwidthMibps,
      maintenance?.policy?.autoConverge,
      maintenance?.policy?.compression,
    ],
    [true, 0, undefined, 'COMPRESSION_UNSPECIFIED'],
  );
  assert.equal((await unary(clients.host, 'GetCapabilities', {})).maintenance, 'MAINTENANCE_PHASE_DRAINING');
  migrations.autoEnd = 'completed';
  for (const job of migrations.running()) migrations.end(job.jobId, 'completed');
  await until(
    'the drain ended',
    async () => (await unary(clients.host, 'GetMaintenance', {})).maintenance?.phase === 'MAINTENANCE_PHASE_INCOMPLETE',
  );
  const now = (await unary(clients.host, 'GetMaintenance', {})).maintenance;
  assert.deepEqual(
    now?.vms.map((v) => [v.name, v.state, v.destination, v.memoryBytes]),
    [
      ['a', 'MAINTENANCE_VM_STATE_MIGRATED', 'lab2', 2 * 2 ** 30],
      ['b', 'MAINTENANCE_VM_STATE_UNMOVABLE', '', 2 ** 30],
    ],
  );
  assert.deepEqual(now?.vms[1]?.attempts, [
    {
      destination: 'lab2',
      jobId: '',
      error: null,
      blocking: [
        {
          reason: 'MIGRATION_CHECK_REASON_DESTINATION_IN_MAINTENANCE',
          side: 'MIGRATION_CHECK_SIDE_DESTINATION',
          message: 'lab2 is in maintenance too',
        },
      ],
    },
  ]);
  assert.ok(now?.drainedTime);

  const other = await refused(unary(clients.host, 'EnterMaintenance', { destinations: [{ host: 'lab3', dstqemu: '' }] }));
  assert.deepEqual([other.kind, other.reason], ['FAILED_PRECONDITION', 'MAINTENANCE_IN_PROGRESS']);

  const left = (await unary(clients.host, 'ExitMaintenance', { cancelMigrations: false })).maintenance;
  assert.equal(left?.phase, 'MAINTENANCE_PHASE_OFF');
  assert.equal(left?.vms.length, 2, 'the VMs as they stood');
  const after = (await unary(clients.host, 'GetMaintenance', {})).maintenance;
  assert.deepEqual([after?.phase, after?.enteredTime, after?.vms], ['MAINTENANCE_PHASE_OFF', null, []]);
});

test('EnterMaintenance refuses a malformed request naming the field, before the core sees it', async () => {
  const { mode } = setup([vm('a')]);
  const clients = await serve(mode);
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ destinations: [{ host: 'not a host', dstqemu: '' }] }, 'destinations[0].host'],
    [{ destinations: [{ host: 'lab2', dstqemu: '224.0.0.1' }] }, 'destinations[0].dstqemu'],
    [{ destinations: [{ host: 'lab2', dstqemu: '' }], migrationNetwork: '198.19.0.0/33' }, 'migration_network'],
    [{ destinations: [{ host: 'lab2', dstqemu: '' }], policy: { parallelConnections: 65 } }, 'policy.parallel_connections'],
    [
      {
        destinations: [
          { host: 'lab2', dstqemu: '' },
          { host: 'lab2:54321', dstqemu: '' },
        ],
      },
      'destinations[1].host',
    ],
    [{ destinations: [] }, 'destinations'],
  ];
  for (const [request, field] of cases) {
    const err = await refused(unary(clients.host, 'EnterMaintenance', request));
    assert.equal(err.kind, 'INVALID_ARGUMENT', `${field}: ${err.message}`);
    assert.equal(err.details.field, field);
  }
  assert.equal(mode.inMaintenance(), false);
});

test('WatchMaintenance: a message per change, closed once the drain ended; a client that cancels frees its watcher', async () => {
  const { mode, migrations } = setup([vm('a'), vm('b')]);
  const clients = await serve(mode);
  await unary(clients.host, 'EnterMaintenance', { destinations: [{ host: 'lab2', dstqemu: '' }], maxParallel: 1 });
  const seen: Maintenance__Output[] = [];
  const stream = clients.host.WatchMaintenance({});
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('data', (m: { maintenance: Maintenance__Output }) => seen.push(m.maintenance));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  await until('a watcher', () => mode.watcherCount() === 1);
  migrations.autoEnd = 'completed';
  for (const job of migrations.running()) migrations.end(job.jobId, 'completed');
  await ended;
  assert.equal(seen.at(-1)?.phase, 'MAINTENANCE_PHASE_DRAINED');
  assert.ok(seen.length >= 3, `the first, each VM's changes, the end: ${seen.length}`);
  await until('no watcher left', () => mode.watcherCount() === 0);

  const held = setup([vm('c')]);
  const heldClients = await serve(held.mode);
  await unary(heldClients.host, 'EnterMaintenance', { destinations: [{ host: 'lab2', dstqemu: '' }] });
  const cancelled = heldClients.host.WatchMaintenance({});
  cancelled.on('error', () => undefined);
  await new Promise((resolve) => cancelled.once('data', resolve));
  assert.equal(held.mode.watcherCount(), 1);
  cancelled.cancel();
  await until('the cancelled watcher freed', () => held.mode.watcherCount() === 0);
  await settle();
});

test('without a maintenance core the four methods answer UNIMPLEMENTED; GetCapabilities says OFF', async () => {
  const clients = await serve();
  assert.equal((await unary(clients.host, 'GetCapabilities', {})).maintenance, 'MAINTENANCE_PHASE_OFF');
  for (const call of [
    unary(clients.host, 'EnterMaintenance', { destinations: [{ host: 'lab2', dstqemu: '' }] }),
    unary(clients.host, 'GetMaintenance', {}),
    unary(clients.host, 'ExitMaintenance', {}),
  ]) {
    assert.equal((await refused(call)).kind, 'UNIMPLEMENTED');
  }
});
