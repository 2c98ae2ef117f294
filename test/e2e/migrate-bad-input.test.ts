// Bad input and unreachable peers: each Migrate answers a specific gRPC code
// with a message that says what to fix, and changes nothing — the VM keeps
// running, the destination's firewall is byte-identical, no job is recorded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { isFerryError, type ErrorKind } from '../../shared/errors.js';
import type { MigrateRequest } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import { createVm, destroyVm, ensureLab, labExec } from '../support/lab.js';
import { agent, closeAgents, domainState, ferryd, firewallSnapshot } from '../support/ferry.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';

const VM = 'e2e-bad-input';
const STOPPED = 'e2e-bad-input-off';
const BUSY = 'e2e-bad-input-busy';
let uuid = '';
let stoppedUuid = '';

before(async () => {
  await ensureLab(3);
  ({ uuid } = await createVm('lab1', VM));
  ({ uuid: stoppedUuid } = await createVm('lab1', STOPPED));
  await labExec('lab1', ['virsh', '-c', 'qemu:///system', 'destroy', STOPPED]);
});

after(async () => {
  await labExec('lab2', ['ip', 'addr', 'del', '198.19.0.102/24', 'dev', 'eth1'], { allowFail: true });
  await ferryd('start', 'lab3').catch(() => undefined);
  await destroyVm('lab1', VM);
  await destroyVm('lab1', STOPPED);
  for (const host of ['lab1', 'lab2']) await destroyVm(host, BUSY);
  closeAgents();
});

/** Calls Migrate on lab1 and checks the answer and that nothing changed. */
async function refused(request: MigrateRequest, kind: ErrorKind, message: RegExp): Promise<void> {
  const firewallBefore = await firewallSnapshot('lab2');
  const jobsBefore = (await unary(agent('lab1').migration, 'ListMigrations', { pageSize: 500 })).jobs.length;
  await assert.rejects(unary(agent('lab1').migration, 'Migrate', request), (err) => {
    assert.ok(isFerryError(err), String(err));
    assert.equal(err.kind, kind, err.message);
    assert.match(err.message, message);
    return true;
  });
  assert.equal(await domainState('lab1', VM), 'running');
  assert.equal(await firewallSnapshot('lab2'), firewallBefore);
  assert.equal((await unary(agent('lab1').migration, 'ListMigrations', { pageSize: 500 })).jobs.length, jobsBefore);
}

const to2 = (extra: Partial<MigrateRequest> = {}): MigrateRequest => ({ vmId: uuid, dst: '198.18.0.2', dstqemu: '198.19.0.2', ...extra });

test('malformed UUID', () => refused(to2({ vmId: 'not-a-uuid' }), 'INVALID_ARGUMENT', /vm_id: "not-a-uuid" is not a UUID/));

test('unknown VM', () =>
  refused(to2({ vmId: '00000000-0000-4000-8000-000000000001' }), 'NOT_FOUND', /no VM 00000000-0000-4000-8000-000000000001/));

test('VM not running', () => refused(to2({ vmId: stoppedUuid }), 'FAILED_PRECONDITION', /shutoff, not running/));

test('dst that does not resolve', () => refused(to2({ dst: 'no-such-host.invalid' }), 'INVALID_ARGUMENT', /does not resolve/));

test('dst unreachable (no host at that address)', () => refused(to2({ dst: '198.18.0.77' }), 'UNAVAILABLE', /198\.18\.0\.77/));

test('destination agent down', async () => {
  await ferryd('stop', 'lab3');
  await refused(to2({ dst: '198.18.0.3', dstqemu: '198.19.0.3' }), 'UNAVAILABLE', /destination agent 198\.18\.0\.3 is not reachable/);
  await ferryd('start', 'lab3');
});

test('dstqemu that is not an address of the destination', () =>
  refused(to2({ dstqemu: '198.19.0.3' }), 'INVALID_ARGUMENT', /198\.19\.0\.3 is not an address of the destination/));

test('dstqemu of another family than the source has', () =>
  refused(to2({ dstqemu: '2001:db8::2' }), 'INVALID_ARGUMENT', /ipv6 but this host has only ipv4/));

test('dstqemu that is not unicast', () => refused(to2({ dstqemu: '224.0.0.1' }), 'INVALID_ARGUMENT', /not a unicast address/));

test('migration_network in which the destination has no address', () =>
  refused(
    to2({ dstqemu: '', migrationNetwork: '198.19.0.1/32' }),
    'FAILED_PRECONDITION',
    /destination has no address in migration_network/,
  ));

test('migration_network in which the destination has several addresses', async () => {
  await labExec('lab2', ['ip', 'addr', 'add', '198.19.0.102/24', 'dev', 'eth1']);
  try {
    await refused(to2({ dstqemu: '', migrationNetwork: '198.19.0.0/24' }), 'FAILED_PRECONDITION', /2 addresses in migration_network/);
  } finally {
    await labExec('lab2', ['ip', 'addr', 'del', '198.19.0.102/24', 'dev', 'eth1']);
  }
});

test('both dstqemu and migration_network', () =>
  refused(to2({ migrationNetwork: '198.19.0.0/24' }), 'INVALID_ARGUMENT', /either dstqemu or migration_network/));

test('absurd policy numbers', async () => {
  await refused(to2({ policy: { parallelConnections: 1000 } }), 'INVALID_ARGUMENT', /policy\.parallel_connections: 1000 is out of range/);
  await refused(to2({ policy: { maxBandwidthMibps: -1 } }), 'INVALID_ARGUMENT', /policy\.max_bandwidth_mibps: \d+ is out of range/);
  await refused(to2({ policy: { initialDowntime: protoTimeFromMs(3_600_000) } }), 'INVALID_ARGUMENT', /initial_downtime/);
});

test('a second migration of a VM that is already migrating', async () => {
  const busy = await createVm('lab1', BUSY, { memMiB: 384, dirtyMbps: 20 });
  const request = to2({ vmId: busy.uuid, policy: { maxBandwidthMibps: 5 } });
  const first = await unary(agent('lab1').migration, 'Migrate', request);
  try {
    await assert.rejects(
      unary(agent('lab1').migration, 'Migrate', request),
      (e) => isFerryError(e, 'ALREADY_EXISTS') && e.message.includes(first.jobId),
    );
  } finally {
    await unary(agent('lab1').migration, 'CancelMigration', { job: { jobId: first.jobId } });
  }
  assert.equal(await domainState('lab1', BUSY), 'running');
});
