// Mode COLD at the MigrationService edge: a valid request reaches the core
// with its fields, each field that means nothing for a shut-off VM is
// refused INVALID_ARGUMENT naming it, CheckMigration refuses the mode, and a
// cold job's status carries cold_copy with the mode's contract name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRequestFromProto, requestFromProto, toProgress } from '../../agent/rpc/convert.js';
import type { ColdCopy, MigrationMode, MigrationStatus } from '../../agent/migration/index.js';
import { MigrationJob } from '../../agent/migration/jobs/migration-job.js';
import { type FerryError, isFerryError } from '../../shared/errors.js';
import type { MigrateRequest__Output } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import { MigrationMode as ProtoModes } from '../../shared/generated/ferry/v1/MigrationMode.js';
import { remoteCommand } from '../support/migration-fixtures.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const JOB = '00000000-0000-4000-8000-000000000001';

const refusedOn = (field: string, pattern: RegExp) => (e: unknown) =>
  isFerryError(e, 'INVALID_ARGUMENT') && (e as FerryError).details.field === field && pattern.test((e as Error).message);

/** A MigrationPolicy as proto-loader delivers one with nothing set (defaults filled in). */
const UNSET_POLICY = { preset: '', compression: 'COMPRESSION_UNSPECIFIED', copyStorage: 'COPY_STORAGE_UNSPECIFIED', schedule: [] };

function cold(extra: Record<string, unknown> = {}): MigrateRequest__Output {
  return {
    vmId: VM,
    mode: 'MIGRATION_MODE_COLD',
    dst: '198.18.0.2',
    dstqemu: '198.19.0.2',
    migrationNetwork: '',
    dstparams: '',
    overwrite: false,
    keepSource: false,
    requestId: '',
    policy: UNSET_POLICY,
    ...extra,
  } as unknown as MigrateRequest__Output;
}

test('Migrate in mode COLD: the destination as for REMOTE, keep_source, an optional hibernation definition, queue_timeout, max_bandwidth', () => {
  assert.deepEqual(requestFromProto(cold()), {
    vmId: VM,
    mode: 'cold',
    dst: '198.18.0.2',
    dstparams: '',
    dstqemu: '198.19.0.2',
    migrationNetwork: '',
    overwrite: false,
    keepSource: false,
    policy: {},
  });
  const full = requestFromProto(
    cold({
      dst: 'lab2:54400',
      dstqemu: '',
      migrationNetwork: '198.19.0.0/24',
      dstparams: '/var/lib/ferry/../ferry/web1.json',
      keepSource: true,
      policy: { ...UNSET_POLICY, queueTimeout: { seconds: 300, nanos: 0 }, maxBandwidthMibps: 120 },
    }),
  );
  assert.equal(full.dst, 'lab2:54400');
  assert.equal(full.migrationNetwork, '198.19.0.0/24');
  assert.equal(full.dstparams, '/var/lib/ferry/web1.json', 'normalised');
  assert.equal(full.keepSource, true);
  assert.deepEqual(full.policy, { queueTimeoutS: 300, maxBandwidthMibps: 120 });
});

test("mode COLD: the destination's fields are checked as REMOTE's", () => {
  assert.throws(() => requestFromProto(cold({ dst: '' })), refusedOn('dst', /required/));
  assert.throws(() => requestFromProto(cold({ dst: 'lab2:99999' })), refusedOn('dst', /out of range/));
  assert.throws(() => requestFromProto(cold({ dstqemu: '127.0.0.1' })), refusedOn('dstqemu', /not a unicast address/));
  assert.throws(
    () => requestFromProto(cold({ migrationNetwork: '198.19.0.0/24' })),
    refusedOn('migration_network', /either dstqemu or migration_network/),
  );
  assert.throws(() => requestFromProto(cold({ dstparams: 'web1.json' })), refusedOn('dstparams', /must be an absolute path/));
  assert.throws(() => requestFromProto(cold({ overwrite: true })), refusedOn('overwrite', /mode FILE only/));
});

test('keep_source with any mode but COLD is refused, naming it', () => {
  assert.throws(
    () => requestFromProto(cold({ mode: 'MIGRATION_MODE_REMOTE', keepSource: true })),
    refusedOn('keep_source', /mode COLD only/),
  );
  assert.throws(
    () => requestFromProto(cold({ mode: 'MIGRATION_MODE_UNSPECIFIED', keepSource: true })),
    refusedOn('keep_source', /mode COLD only/),
  );
  assert.throws(
    () => requestFromProto(cold({ mode: 'MIGRATION_MODE_FILE', dst: '/srv/a.save', dstparams: '/srv/a.json', keepSource: true })),
    refusedOn('keep_source', /mode COLD only/),
  );
  // A REMOTE request is unchanged by the new field.
  const remote = requestFromProto(cold({ mode: 'MIGRATION_MODE_REMOTE', policy: { ...UNSET_POLICY, postCopy: true } }));
  assert.equal(remote.mode, 'remote');
  assert.equal(remote.keepSource, false);
  assert.deepEqual(remote.policy, { postCopy: true });
});

test('mode COLD refuses every policy field of a live migration, each by its proto name; the same fields pass with REMOTE', () => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ preset: 'minimal-downtime' }, 'policy.preset', /live copy of memory/],
    [{ parallelConnections: 4 }, 'policy.parallel_connections', /live copy/],
    [{ compression: 'COMPRESSION_ZSTD' }, 'policy.compression', /live copy/],
    [{ autoConverge: false }, 'policy.auto_converge', /live copy/],
    [{ postCopy: true }, 'policy.post_copy', /live copy/],
    [{ encrypted: true }, 'policy.encrypted', /live copy/],
    [{ copyStorage: 'COPY_STORAGE_ALL' }, 'policy.copy_storage', /live copy/],
    [{ initialDowntime: { seconds: 0, nanos: 300_000_000 } }, 'policy.initial_downtime', /live copy/],
    [
      { schedule: [{ trigger: 'afterIteration', afterIteration: 2, action: 'CONVERGENCE_ACTION_ABORT', downtime: null }] },
      'policy.schedule',
      /live copy/,
    ],
    [{ completionTimeoutPerGib: { seconds: 30, nanos: 0 } }, 'policy.completion_timeout_per_gib', /live copy/],
    [{ stallTimeout: { seconds: 60, nanos: 0 } }, 'policy.stall_timeout', /live copy/],
    [{ postcopyRecoveryTimeout: { seconds: 0, nanos: 0 } }, 'policy.postcopy_recovery_timeout', /live copy/],
  ];
  for (const [set, field, why] of cases) {
    const policy = { ...UNSET_POLICY, ...set };
    assert.throws(() => requestFromProto(cold({ policy })), refusedOn(field, why), field);
    assert.throws(
      () => requestFromProto(cold({ policy })),
      refusedOn(field, /only policy\.queue_timeout and policy\.max_bandwidth_mibps apply/),
      field,
    );
    assert.doesNotThrow(() => requestFromProto(cold({ mode: 'MIGRATION_MODE_REMOTE', policy })), field);
  }
});

test('CheckMigration refuses mode COLD on its mode field, and takes REMOTE as Migrate does', () => {
  assert.throws(() => checkRequestFromProto(cold()), refusedOn('mode', /live migrations \(mode REMOTE\) only in this version/));
  assert.equal(checkRequestFromProto(cold({ mode: 'MIGRATION_MODE_REMOTE' })).mode, 'remote');
  // A malformed COLD request stays refused for what is malformed.
  assert.throws(() => checkRequestFromProto(cold({ dst: '' })), refusedOn('dst', /required/));
});

const COLD_COPY: ColdCopy = {
  step: 'remove-source',
  dconnuri: '',
  volumes: [
    {
      id: 'vda',
      format: 'qcow2',
      sourcePath: '/var/lib/libvirt/images/web1.qcow2',
      destinationPath: '/var/lib/libvirt/images/web1.qcow2',
      capacityBytes: 10 * 2 ** 30,
      allocationBytes: 1_234_567_890,
    },
    {
      id: 'saved-state',
      format: 'raw',
      sourcePath: '/var/lib/ferry/web1.save',
      destinationPath: '/srv/ferry/images/web1.save',
      capacityBytes: 300_000_000,
      allocationBytes: 299_999_744,
    },
  ],
  current: '',
  verified: 2,
  holeBytes: 9_000_000_000,
  keepSource: false,
  restore: { path: '/srv/ferry/images/web1.save', dstparams: '/var/lib/ferry/web1.json' },
};

function statusOf(mode: MigrationMode, coldCopy?: ColdCopy): MigrationStatus {
  const status = new MigrationJob(JOB, remoteCommand(VM, { mode }), () => Date.UTC(2026, 11, 5), 'preparing').snapshot();
  return coldCopy ? { ...status, coldCopy } : status;
}

test("a cold job's status: mode COLD and cold_copy with every field; other jobs have none", () => {
  const progress = toProgress(statusOf('cold', COLD_COPY));
  assert.equal(progress.mode, 'MIGRATION_MODE_COLD');
  assert.deepEqual(progress.coldCopy, {
    step: 'COLD_STEP_REMOVE_SOURCE',
    volumes: COLD_COPY.volumes,
    current: '',
    verified: 2,
    holeBytes: 9_000_000_000,
    keepSource: false,
    restorePath: '/srv/ferry/images/web1.save',
    restoreDstparams: '/var/lib/ferry/web1.json',
  });
  const { restore: _none, ...withoutHibernation } = COLD_COPY;
  const plain = toProgress(statusOf('cold', { ...withoutHibernation, step: 'transfer', current: 'vda', verified: 0, keepSource: true }));
  assert.deepEqual(
    [
      plain.coldCopy?.step,
      plain.coldCopy?.current,
      plain.coldCopy?.keepSource,
      plain.coldCopy?.restorePath,
      plain.coldCopy?.restoreDstparams,
    ],
    ['COLD_STEP_TRANSFER', 'vda', true, '', ''],
  );
  for (const step of ['define', 'done'] as const) {
    assert.equal(toProgress(statusOf('cold', { ...COLD_COPY, step })).coldCopy?.step, `COLD_STEP_${step.toUpperCase()}`);
  }
  assert.equal(toProgress(statusOf('remote')).coldCopy, null);
  assert.equal(toProgress(statusOf('remote')).mode, 'MIGRATION_MODE_REMOTE');
  assert.equal(toProgress(statusOf('file')).mode, 'MIGRATION_MODE_FILE');
});

test('every mode of the contract is accepted by Migrate and comes back in the status under its own name', () => {
  const named = Object.keys(ProtoModes).filter((m) => m !== 'MIGRATION_MODE_UNSPECIFIED');
  assert.deepEqual(named.sort(), ['MIGRATION_MODE_COLD', 'MIGRATION_MODE_FILE', 'MIGRATION_MODE_REMOTE']);
  const requests: Record<string, Record<string, unknown>> = {
    MIGRATION_MODE_REMOTE: {},
    MIGRATION_MODE_FILE: { dst: '/srv/a.save', dstparams: '/srv/a.json' },
    MIGRATION_MODE_COLD: {},
  };
  for (const name of named) {
    const request = requestFromProto(cold({ mode: name, ...requests[name] }));
    assert.equal(toProgress(statusOf(request.mode)).mode, name);
  }
  assert.throws(() => requestFromProto(cold({ mode: 7 })), refusedOn('mode', /not one of/));
});
