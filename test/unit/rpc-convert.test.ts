// The edge's checks of single fields, done once where a request arrives:
// unicast addresses and absolute paths are refused INVALID_ARGUMENT naming
// the proto field, before the core sees the request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listQueryFromProto, requestFromProto, restoreFromProto } from '../../agent/rpc/convert.js';
import { prepareArgsFromProto } from '../../agent/rpc/peer-service.js';
import { vmStateToProto } from '../../agent/rpc/convert-vm-state.js';
import type { MigrateRequest__Output } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import type { PrepareIncomingRequest__Output } from '../../shared/generated/ferry/v1/PrepareIncomingRequest.js';
import { type FerryError, isFerryError } from '../../shared/errors.js';
import { prepareArgs } from '../support/migration-fixtures.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';

const refusedOn = (field: string, pattern: RegExp) => (e: unknown) =>
  isFerryError(e, 'INVALID_ARGUMENT') && (e as FerryError).details.field === field && pattern.test((e as Error).message);

/** The request on the wire that carries the core's usual PrepareIncoming arguments. */
function prepare(extra: Partial<PrepareIncomingRequest__Output> = {}): PrepareIncomingRequest__Output {
  return { ...prepareArgs({ vmId: VM }), disks: [], ...extra } as PrepareIncomingRequest__Output;
}

function migrate(extra: Partial<MigrateRequest__Output> = {}): MigrateRequest__Output {
  return {
    vmId: VM,
    mode: 'MIGRATION_MODE_REMOTE',
    dst: '198.18.0.2',
    dstqemu: '',
    migrationNetwork: '',
    dstparams: '',
    overwrite: false,
    policy: null,
    ...extra,
  } as MigrateRequest__Output;
}

test('PrepareIncoming: source_migration_address and dstqemu must be unicast IPs', () => {
  assert.equal(prepareArgsFromProto(prepare()).dstqemu, '198.19.0.2');
  assert.throws(
    () => prepareArgsFromProto(prepare({ sourceMigrationAddress: 'lab1' })),
    refusedOn('source_migration_address', /not an IP address/),
  );
  assert.throws(() => prepareArgsFromProto(prepare({ sourceMigrationAddress: '' })), refusedOn('source_migration_address', /is required/));
  assert.throws(() => prepareArgsFromProto(prepare({ dstqemu: '224.0.0.1' })), refusedOn('dstqemu', /not a unicast address/));
  assert.throws(() => prepareArgsFromProto(prepare({ dstqemu: '127.0.0.1' })), refusedOn('dstqemu', /not a unicast address/));
});

test('Migrate: dstqemu must be a unicast IP; FILE paths must be absolute', () => {
  assert.throws(() => requestFromProto(migrate({ dstqemu: '0.0.0.0' })), refusedOn('dstqemu', /not a unicast address/));
  const file = { mode: 'MIGRATION_MODE_FILE', dst: '/srv/vm.save', dstparams: '/srv/vm.json' } as const;
  assert.equal(requestFromProto(migrate(file)).dst, '/srv/vm.save');
  assert.throws(() => requestFromProto(migrate({ ...file, dst: 'vm.save' })), refusedOn('dst', /must be an absolute path/));
  assert.throws(() => requestFromProto(migrate({ ...file, dstparams: '' })), refusedOn('dstparams', /is required/));
});

test('Restore: path and dstparams must be absolute', () => {
  assert.deepEqual(restoreFromProto({ path: '/srv/vm.save', dstparams: '/srv/vm.json', paused: true }), {
    path: '/srv/vm.save',
    dstparams: '/srv/vm.json',
    paused: true,
  });
  assert.throws(
    () => restoreFromProto({ path: 'vm.save', dstparams: '/srv/vm.json', paused: false }),
    refusedOn('path', /must be an absolute path/),
  );
  assert.throws(
    () => restoreFromProto({ path: '/srv/vm.save', dstparams: 'x/vm.json', paused: false }),
    refusedOn('dstparams', /must be an absolute path/),
  );
});

/** A MigrationPolicy as proto-loader delivers one with nothing set (defaults filled in). */
const UNSET_POLICY = { preset: '', compression: 'COMPRESSION_UNSPECIFIED', copyStorage: 'COPY_STORAGE_UNSPECIFIED', schedule: [] };

test('Migrate: the policy Durations arrive in the core as its milliseconds and seconds, each checked under its proto name', () => {
  const policy = {
    ...UNSET_POLICY,
    initialDowntime: { seconds: 0, nanos: 250_000_000 },
    completionTimeoutPerGib: { seconds: 30, nanos: 0 },
    stallTimeout: { seconds: 0, nanos: 0 },
    queueTimeout: { seconds: 120, nanos: 0 },
    schedule: [
      {
        trigger: 'afterElapsed',
        afterElapsed: { seconds: 20, nanos: 0 },
        action: 'CONVERGENCE_ACTION_SET_DOWNTIME',
        downtime: { seconds: 1, nanos: 0 },
      },
    ],
  };
  const request = requestFromProto(migrate({ policy } as unknown as Partial<MigrateRequest__Output>)).policy;
  assert.equal(request.initialDowntimeMs, 250);
  assert.equal(request.completionTimeoutSPerGib, 30);
  assert.equal(request.stallTimeoutS, 0);
  assert.equal(request.queueTimeoutS, 120);
  assert.deepEqual(request.schedule, [{ trigger: { kind: 'seconds', after: 20 }, action: 'set-downtime', downtimeMs: 1000 }]);
  const withPolicy = (extra: object) => () =>
    requestFromProto(migrate({ policy: { ...UNSET_POLICY, ...extra } } as unknown as Partial<MigrateRequest__Output>));
  assert.throws(
    withPolicy({ initialDowntime: { seconds: 61, nanos: 0 } }),
    refusedOn('policy.initial_downtime', /out of range: allowed 1-60000 ms/),
  );
  assert.throws(withPolicy({ stallTimeout: { seconds: -5, nanos: 0 } }), refusedOn('policy.stall_timeout', /negative/));
  assert.throws(withPolicy({ queueTimeout: { seconds: 1, nanos: 5 } }), refusedOn('policy.queue_timeout', /whole number of seconds/));
  assert.throws(
    withPolicy({
      schedule: [
        { trigger: 'afterIteration', afterIteration: 2, action: 'CONVERGENCE_ACTION_SET_DOWNTIME', downtime: { seconds: 0, nanos: 1 } },
      ],
    }),
    refusedOn('policy.schedule[0].downtime', /whole number of milliseconds/),
  );
});

test("a VM's state: libvirt's states by their virDomainState names, ABSENT, and UNKNOWN for anything else", () => {
  assert.equal(vmStateToProto('running'), 'VM_STATE_RUNNING');
  assert.equal(vmStateToProto('paused'), 'VM_STATE_PAUSED');
  assert.equal(vmStateToProto('shutoff'), 'VM_STATE_SHUTOFF');
  assert.equal(vmStateToProto('suspended'), 'VM_STATE_PMSUSPENDED');
  assert.equal(vmStateToProto('pmsuspended'), 'VM_STATE_PMSUSPENDED');
  assert.equal(vmStateToProto('nostate'), 'VM_STATE_UNSPECIFIED');
  assert.equal(vmStateToProto('absent'), 'VM_STATE_ABSENT');
  assert.equal(vmStateToProto('other'), 'VM_STATE_UNKNOWN');
  assert.equal(vmStateToProto('unknown'), 'VM_STATE_UNKNOWN');
});

test('request_id: optional, a UUID when given, lower-cased so that a retry in capitals is the same request', () => {
  assert.equal(requestFromProto(migrate({ requestId: '' })).requestId, undefined);
  assert.equal(
    requestFromProto(migrate({ requestId: '1F0B8B9D-6F2A-4A67-9D43-8F9C3C5E2B0A' })).requestId,
    '1f0b8b9d-6f2a-4a67-9d43-8f9c3c5e2b0a',
  );
  assert.throws(() => requestFromProto(migrate({ requestId: 'retry-1' })), refusedOn('request_id', /not a UUID/));
  assert.throws(
    () => restoreFromProto({ path: '/a', dstparams: '/b', paused: false, requestId: 'x' }),
    refusedOn('request_id', /not a UUID/),
  );
});

test('ListMigrations: phases by name, vm_id a UUID, an unspecified phase refused', () => {
  const query = listQueryFromProto({
    activeOnly: false,
    vmId: VM,
    phases: ['MIGRATION_PHASE_FAILED', 'MIGRATION_PHASE_POSTCOPY'],
    pageSize: 10,
    pageToken: '',
  });
  assert.deepEqual(query, { activeOnly: false, vmId: VM, phases: ['failed', 'postcopy'], pageSize: 10, pageToken: '' });
  const list = { activeOnly: false, vmId: '', phases: [], pageSize: 0, pageToken: '' };
  assert.throws(() => listQueryFromProto({ ...list, phases: ['MIGRATION_PHASE_UNSPECIFIED'] }), refusedOn('phases[0]', /not one of/));
  assert.throws(() => listQueryFromProto({ ...list, vmId: 'web' }), refusedOn('vm_id', /not a UUID/));
});
