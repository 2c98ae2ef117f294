// The edges of post-copy recovery, over loopback gRPC with the core stubbed
// behind its interfaces: the new phases both ways, PostcopyRecovery in the
// status, the policy's postcopy_recovery_timeout, RecoverMigration's
// validation (nothing reaches the core for a bad request), and PrepareRecovery
// from the source's peers adapter to the destination's service and back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { GrpcPeers } from '../../agent/peers/grpc-peers.js';
import { listQueryFromProto, phaseToProto, requestFromProto, toProgress } from '../../agent/rpc/convert.js';
import { policyRequestToProto } from '../../agent/rpc/convert-maintenance.js';
import { policyToProto, resolvedPolicyFromProto } from '../../agent/rpc/convert-policy.js';
import { migrationService } from '../../agent/rpc/migration-service.js';
import { peerService, recoveryArgsFromProto } from '../../agent/rpc/peer-service.js';
import {
  BUILTIN_DEFAULTS,
  type IncomingMigrations,
  type IncomingOffer,
  type JobSelector,
  type MigrationPhase,
  type MigrationStatus,
  type OutgoingMigrations,
  type PrepareRecoveryArgs,
} from '../../agent/migration/index.js';
import { MigrationJob } from '../../agent/migration/jobs/migration-job.js';
import { connectAgent, unary } from '../../shared/client.js';
import { type FerryError, FerryError as Failure, isFerryError } from '../../shared/errors.js';
import { MigrationPhase as ProtoPhases } from '../../shared/generated/ferry/v1/MigrationPhase.js';
import type { MigrateRequest__Output } from '../../shared/generated/ferry/v1/MigrateRequest.js';
import type { PrepareRecoveryRequest__Output } from '../../shared/generated/ferry/v1/PrepareRecoveryRequest.js';
import { loadFerryProto } from '../../shared/proto.js';
import { remoteCommand } from '../support/migration-fixtures.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const JOB = '00000000-0000-4000-8000-000000000001';
const PAUSED_AT = Date.UTC(2026, 11, 4, 10, 0, 0, 250);

const refusedOn = (field: string, pattern: RegExp) => (e: unknown) =>
  isFerryError(e, 'INVALID_ARGUMENT') && (e as FerryError).details.field === field && pattern.test((e as Error).message);

function statusIn(phase: MigrationPhase, recovery?: MigrationStatus['recovery']): MigrationStatus {
  const status = { ...new MigrationJob(JOB, remoteCommand(VM), () => PAUSED_AT - 5_000, 'preparing').snapshot(), phase };
  return recovery ? { ...status, recovery } : status;
}

const RECOVERY = {
  cause: 'operation failed: job "migration out" failed in post-copy phase',
  pausedAt: PAUSED_AT,
  deadlineAt: PAUSED_AT + 600_000,
  attempts: 2,
  lastError: 'unable to connect to 198.19.0.2:49153',
  nextAttemptAt: PAUSED_AT + 4_000,
  resumed: 1,
};

async function serve(services: { migration?: grpc.UntypedServiceImplementation; peer?: grpc.UntypedServiceImplementation }) {
  const v1 = loadFerryProto().grpcObject.ferry.v1;
  const server = new grpc.Server();
  if (services.migration) server.addService(v1.MigrationService.service, services.migration);
  if (services.peer) server.addService(v1.PeerService.service, services.peer);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

// --- Phases ----------------------------------------------------------------------

test("every phase of the core has the contract's name, and ListMigrations filters by each of them", () => {
  const phases: MigrationPhase[] = [
    'queued',
    'preparing',
    'migrating',
    'postcopy',
    'postcopy-paused',
    'recovering',
    'completed',
    'failed',
    'cancelled',
  ];
  const names = phases.map(phaseToProto);
  assert.deepEqual(names.slice(4, 6), ['MIGRATION_PHASE_POSTCOPY_PAUSED', 'MIGRATION_PHASE_RECOVERING']);
  for (const name of names) assert.ok(Object.hasOwn(ProtoPhases, name), `${name} is in the contract`);
  // Every phase of the contract is a filter, and it comes back as the core's phase.
  const every = Object.keys(ProtoPhases).filter((n) => n !== 'MIGRATION_PHASE_UNSPECIFIED') as (keyof typeof ProtoPhases)[];
  const query = listQueryFromProto({ activeOnly: false, vmId: '', phases: every, pageSize: 0, pageToken: '' });
  assert.deepEqual([...(query.phases ?? [])].sort(), [...phases].sort());
});

// --- The status ------------------------------------------------------------------

test('a paused job carries its recovery: instants as Timestamps, no next attempt as unset; a job that never broke has none', () => {
  const progress = toProgress(statusIn('postcopy-paused', RECOVERY));
  assert.equal(progress.phase, 'MIGRATION_PHASE_POSTCOPY_PAUSED');
  assert.deepEqual(progress.recovery, {
    cause: RECOVERY.cause,
    pausedAt: { seconds: (PAUSED_AT - 250) / 1000, nanos: 250_000_000 },
    deadline: { seconds: (PAUSED_AT - 250) / 1000 + 600, nanos: 250_000_000 },
    attempts: 2,
    lastError: RECOVERY.lastError,
    nextAttemptAt: { seconds: (PAUSED_AT - 250) / 1000 + 4, nanos: 250_000_000 },
    resumed: 1,
  });
  assert.equal(toProgress(statusIn('recovering', { ...RECOVERY, nextAttemptAt: 0 })).recovery?.nextAttemptAt, null);
  assert.equal(toProgress(statusIn('migrating')).recovery, null);
});

// --- The policy ------------------------------------------------------------------

/** A MigrationPolicy as proto-loader delivers one with nothing set (defaults filled in). */
const UNSET_POLICY = { preset: '', compression: 'COMPRESSION_UNSPECIFIED', copyStorage: 'COPY_STORAGE_UNSPECIFIED', schedule: [] };

function migrateWith(policy: object): MigrateRequest__Output {
  return {
    vmId: VM,
    mode: 'MIGRATION_MODE_REMOTE',
    dst: '198.18.0.2',
    dstqemu: '',
    migrationNetwork: '',
    dstparams: '',
    overwrite: false,
    policy: { ...UNSET_POLICY, ...policy },
  } as unknown as MigrateRequest__Output;
}

test('policy.postcopy_recovery_timeout: unset is the host default, 0 is "only by hand", whole seconds up to a day', () => {
  assert.equal(requestFromProto(migrateWith({})).policy.postcopyRecoveryTimeoutS, undefined);
  assert.equal(requestFromProto(migrateWith({ postcopyRecoveryTimeout: { seconds: 0, nanos: 0 } })).policy.postcopyRecoveryTimeoutS, 0);
  assert.equal(requestFromProto(migrateWith({ postcopyRecoveryTimeout: { seconds: 90, nanos: 0 } })).policy.postcopyRecoveryTimeoutS, 90);
  assert.throws(
    () => requestFromProto(migrateWith({ postcopyRecoveryTimeout: { seconds: 1, nanos: 500_000_000 } })),
    refusedOn('policy.postcopy_recovery_timeout', /whole number of seconds/),
  );
  assert.throws(
    () => requestFromProto(migrateWith({ postcopyRecoveryTimeout: { seconds: 86_401, nanos: 0 } })),
    refusedOn('policy.postcopy_recovery_timeout', /out of range: allowed 0-86400 s/),
  );
});

test('the resolved policy carries postcopy_recovery_timeout both ways; a drain request sends it only when it was set', () => {
  const resolved = { ...BUILTIN_DEFAULTS, schedule: [], postcopyRecoveryTimeoutS: 45 };
  const proto = policyToProto(resolved);
  assert.deepEqual(proto.postcopyRecoveryTimeout, { seconds: 45, nanos: 0 });
  const back = resolvedPolicyFromProto({
    ...UNSET_POLICY,
    ...proto,
    compression: 'COMPRESSION_NONE',
    copyStorage: 'COPY_STORAGE_NONE',
  } as never);
  assert.equal(back.postcopyRecoveryTimeoutS, 45);
  assert.deepEqual(policyRequestToProto({ postcopyRecoveryTimeoutS: 0 }), { postcopyRecoveryTimeout: { seconds: 0, nanos: 0 } });
  assert.deepEqual(policyRequestToProto({ stallTimeoutS: 5 }), { stallTimeout: { seconds: 5, nanos: 0 } });
});

// --- RecoverMigration ------------------------------------------------------------

/** The outgoing core as RecoverMigration uses it: records each call, answers RECOVERING or throws `refusal`. */
function recordingOutgoing() {
  const calls: { selector: JobSelector; options: { dstqemu?: string } }[] = [];
  const core = {
    calls,
    refusal: undefined as FerryError | undefined,
    async recoverPostcopy(selector: JobSelector, options: { dstqemu?: string }) {
      calls.push({ selector, options });
      if (core.refusal) throw core.refusal;
      return statusIn('recovering', { ...RECOVERY, attempts: 3, nextAttemptAt: 0 });
    },
  };
  return core;
}

test('RecoverMigration: selector and dstqemu checked first (nothing reaches the core), then the core answers the status', async () => {
  const core = recordingOutgoing();
  const agent = await serve({
    migration: migrationService({ migrations: core as unknown as OutgoingMigrations }) as grpc.UntypedServiceImplementation,
  });
  const engine = connectAgent(agent.address, grpc.credentials.createInsecure());
  try {
    const recover = (request: object) => unary(engine.migration, 'RecoverMigration', request);
    await assert.rejects(recover({}), refusedOn('job', /is required/));
    await assert.rejects(recover({ job: { vmId: 'web1' } }), refusedOn('job.vm_id', /not a UUID/));
    await assert.rejects(recover({ job: { jobId: JOB }, dstqemu: 'lab2' }), refusedOn('dstqemu', /not an IP address/));
    await assert.rejects(recover({ job: { jobId: JOB }, dstqemu: '224.0.0.1' }), refusedOn('dstqemu', /not a unicast address/));
    assert.deepEqual(core.calls, [], 'no invalid request reached the core');

    const reply = await recover({ job: { jobId: JOB }, dstqemu: '198.19.1.2' });
    assert.equal(reply.status?.phase, 'MIGRATION_PHASE_RECOVERING');
    assert.equal(reply.status?.recovery?.attempts, 3);
    await recover({ job: { vmId: VM.toUpperCase() } });
    assert.deepEqual(core.calls, [
      { selector: { jobId: JOB }, options: { dstqemu: '198.19.1.2' } },
      { selector: { vmId: VM }, options: {} },
    ]);

    core.refusal = new Failure('FAILED_PRECONDITION', `job ${JOB} is migrating, not paused in post-copy`, {
      reason: 'POSTCOPY_NOT_PAUSED',
      subject: `job/${JOB}`,
    });
    await assert.rejects(
      recover({ job: { jobId: JOB } }),
      (e) => isFerryError(e, 'FAILED_PRECONDITION') && e.reason === 'POSTCOPY_NOT_PAUSED' && /not paused in post-copy/.test(e.message),
    );
  } finally {
    engine.close();
    agent.stop();
  }
});

// --- PrepareRecovery -------------------------------------------------------------

const RECOVERY_ARGS: PrepareRecoveryArgs = {
  vmId: VM,
  jobId: JOB,
  sourceHost: 'lab1',
  sourceMigrationAddress: '198.19.0.1',
  dstqemu: '198.19.1.2',
  migrationNetwork: '',
};

test("PrepareRecovery's fields are checked as PrepareIncoming's: UUID, job id, the source's name and unicast addresses", () => {
  const request = (extra: Partial<PrepareRecoveryRequest__Output> = {}) =>
    ({ ...RECOVERY_ARGS, ...extra }) as PrepareRecoveryRequest__Output;
  assert.deepEqual(recoveryArgsFromProto(request()), RECOVERY_ARGS);
  assert.throws(() => recoveryArgsFromProto(request({ vmId: 'web1' })), refusedOn('vm_id', /not a UUID/));
  assert.throws(() => recoveryArgsFromProto(request({ jobId: '' })), refusedOn('job_id', /is required/));
  assert.throws(() => recoveryArgsFromProto(request({ sourceHost: '' })), refusedOn('source_host', /is required/));
  assert.throws(() => recoveryArgsFromProto(request({ sourceMigrationAddress: 'lab1' })), refusedOn('source_migration_address', /IP/));
  assert.throws(() => recoveryArgsFromProto(request({ dstqemu: '127.0.0.1' })), refusedOn('dstqemu', /not a unicast address/));
  assert.throws(() => recoveryArgsFromProto(request({ migrationNetwork: '198.19.0.1/24' })), refusedOn('migration_network', /./));
});

test('PrepareRecovery from the peers adapter to the destination and back: the arguments, the trace, the offer, the errors', async () => {
  const received: { args: PrepareRecoveryArgs; caller: unknown }[] = [];
  let refusal: FerryError | undefined;
  const offer: IncomingOffer = {
    displayAddress: '',
    migrateUri: 'tcp://198.19.1.2:49153',
    listenAddress: '198.19.1.2',
    port: 49153,
    disksPort: 0,
    pinholeExpiresAt: PAUSED_AT + 120_000,
    dconnuri: 'qemu+tls://lab2/system',
    network: 'migration',
  };
  const destinationCore = {
    async prepareRecovery(args: PrepareRecoveryArgs, caller: unknown) {
      received.push({ args, caller });
      if (refusal) throw refusal;
      return offer;
    },
  };
  const destination = await serve({
    peer: peerService(destinationCore as unknown as IncomingMigrations) as grpc.UntypedServiceImplementation,
  });
  const insecure = grpc.credentials.createInsecure();
  const peers = new GrpcPeers(() => insecure, 5_000);
  try {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    assert.deepEqual(await peers.prepareRecovery(destination.address, { ...RECOVERY_ARGS, trace: { traceparent } }), offer);
    assert.equal(received.length, 1);
    assert.deepEqual(received[0]?.args, { ...RECOVERY_ARGS, trace: { traceparent } });
    assert.equal(received[0]?.caller, null, 'no certificate on a plaintext channel');

    // The destination's own refusal passes through unchanged, reason and all.
    refusal = new Failure('FAILED_PRECONDITION', `VM ${VM} is not in post-copy failed here`, { reason: 'POSTCOPY_NOT_RECOVERABLE' });
    await assert.rejects(
      peers.prepareRecovery(destination.address, RECOVERY_ARGS),
      (e) => isFerryError(e, 'FAILED_PRECONDITION') && e.reason === 'POSTCOPY_NOT_RECOVERABLE' && /post-copy failed here/.test(e.message),
    );
    // A malformed request is refused by the destination's service before its core.
    await assert.rejects(peers.prepareRecovery(destination.address, { ...RECOVERY_ARGS, vmId: 'web1' }), refusedOn('vm_id', /UUID/));
    assert.equal(received.length, 2);
  } finally {
    peers.close();
    destination.stop();
  }
});

test('a destination agent without PrepareRecovery (an older ferryd): POSTCOPY_NOT_RECOVERABLE, saying to upgrade it', async () => {
  const older = await serve({ peer: {} });
  const insecure = grpc.credentials.createInsecure();
  const peers = new GrpcPeers(() => insecure, 5_000);
  try {
    await assert.rejects(
      peers.prepareRecovery(older.address, RECOVERY_ARGS),
      (e) =>
        isFerryError(e, 'FAILED_PRECONDITION') &&
        e.reason === 'POSTCOPY_NOT_RECOVERABLE' &&
        e.message.startsWith(`destination agent ${older.address} does not implement PrepareRecovery`) &&
        /upgrade its ferryd/.test(e.message),
    );
  } finally {
    peers.close();
    older.stop();
  }
});
