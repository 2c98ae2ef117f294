// What the unit tests of the migration core share: both sides built over
// in-memory ports with the tests' defaults, a command as the Migration service
// would hand it over (every policy default resolved), the destination's
// arguments, a live-migration plan, schedule steps, and waits.
import { IncomingMigrations, type IncomingOptions } from '../../agent/migration/incoming/incoming-migrations.js';
import { OutgoingMigrations, type OutgoingMigrationsOptions } from '../../agent/migration/outgoing/outgoing-migrations.js';
import { systemClock, type LiveMigrationPlan, type PrepareIncomingArgs } from '../../agent/migration/ports.js';
import type { ConvergenceStep, MigrateCommand, MigrateRequest, MigrationPolicy, MigrationStatus } from '../../agent/migration/types.js';
import { FakeHibernationFiles, FakeHypervisor, FakeNetwork, FakePeers, FakePinholes, FakeStoragePaths, fastClock } from './fake-ports.js';

/** The source's side; every port and setting not given is an in-memory fake or the tests' default. */
export function outgoingMigrations(
  options: Partial<OutgoingMigrationsOptions> & Pick<OutgoingMigrationsOptions, 'hypervisor'>,
): OutgoingMigrations {
  return new OutgoingMigrations({
    peers: new FakePeers(),
    network: new FakeNetwork(),
    hibernationFiles: new FakeHibernationFiles(),
    storage: new FakeStoragePaths(),
    clock: fastClock,
    hostName: 'lab1',
    abortWaitMs: 2000,
    answerWaitMs: 4000,
    pollIntervalMs: 5,
    dconnuriTemplate: 'qemu+tcp://{host}/system',
    maxOutgoing: () => 2,
    retentionMs: 60_000,
    ...options,
  });
}

/** The source's side over fresh fakes (what `extra` does not replace), with its ports for the test to drive. */
export function fakeOutgoing(extra: Partial<OutgoingMigrationsOptions> = {}) {
  const hypervisor = new FakeHypervisor();
  const peers = new FakePeers();
  const network = new FakeNetwork();
  const hibernationFiles = new FakeHibernationFiles();
  const migrations = outgoingMigrations({ hypervisor, peers, network, hibernationFiles, ...extra });
  return { hypervisor, peers, network, hibernationFiles, migrations };
}

/** The destination's migration-network address, on its own NIC. */
export const MIGRATION_NIC = { address: '198.19.0.2', prefixLength: 24, interface: 'eth1', family: 'ipv4' } as const;

/** The destination's side; every port and setting not given is an in-memory fake or the tests' default. */
export function incomingMigrations(options: Partial<IncomingOptions> = {}): IncomingMigrations {
  return new IncomingMigrations({
    network: new FakeNetwork([MIGRATION_NIC]),
    pinholes: new FakePinholes(),
    dconnuri: '',
    pinholeTtlMs: 10_000,
    reservationTtlMs: 60_000,
    clock: systemClock,
    maxIncoming: () => 2,
    checks: { hypervisor: new FakeHypervisor(), storage: new FakeStoragePaths(), kvmAvailable: async () => true },
    ...options,
  });
}

/** PrepareIncoming's arguments as the source sends them. */
export const prepareArgs = (extra: Partial<PrepareIncomingArgs> = {}): PrepareIncomingArgs => ({
  vmId: 'v1',
  jobId: 'j1',
  sourceHost: 'lab1',
  sourceMigrationAddress: '198.19.0.1',
  dstqemu: '198.19.0.2',
  migrationNetwork: '',
  copyStorage: false,
  memoryBytes: 0,
  ...extra,
});

/** One connection, nothing libvirt would add: the same in a policy and in the plan made from it. */
const PLAIN_TRANSPORT = {
  parallelConnections: 1,
  compression: 'none',
  autoConverge: false,
  postCopy: false,
  encrypted: false,
  copyStorage: 'none',
} as const;

/** What the core hands the hypervisor to perform: nothing but the URIs and libvirt's defaults. */
export const livePlan = (extra: Partial<LiveMigrationPlan> = {}): LiveMigrationPlan => ({
  dconnuri: 'qemu+tls://lab2/system',
  migrateUri: 'tcp://198.19.0.2:49152',
  listenAddress: '198.19.0.2',
  bandwidthMibps: 0,
  ...PLAIN_TRANSPORT,
  migrateDisks: [],
  initialDowntimeMs: 0,
  ...extra,
});

const step =
  (kind: ConvergenceStep['trigger']['kind']) =>
  (after: number, action: ConvergenceStep['action'], downtimeMs?: number): ConvergenceStep => ({
    trigger: { kind, after },
    action,
    ...(downtimeMs ? { downtimeMs } : {}),
  });
/** A schedule step after `after` complete memory passes. */
export const afterPasses = step('iteration');
/** A schedule step after `after` seconds of copy. */
export const afterSeconds = step('seconds');

/** A Migrate call to lab2 as the rpc edge hands it over: the policy holds only what the caller set. */
export function remoteRequest(vmId: string, extra: Partial<MigrateRequest> = {}): MigrateRequest {
  return {
    vmId,
    mode: 'remote',
    dst: '198.18.0.2',
    dstparams: '',
    dstqemu: '198.19.0.2',
    migrationNetwork: '',
    overwrite: false,
    keepSource: false,
    policy: {},
    ...extra,
  };
}

/** The same call as the core runs it, every policy default resolved. */
export function remoteCommand(vmId: string, extra: Partial<MigrateCommand> = {}, policy: Partial<MigrationPolicy> = {}): MigrateCommand {
  return {
    ...remoteRequest(vmId),
    policy: {
      preset: '',
      maxBandwidthMibps: 0,
      ...PLAIN_TRANSPORT,
      initialDowntimeMs: 0,
      schedule: [],
      completionTimeoutSPerGib: 0,
      stallTimeoutS: 0,
      queueTimeoutS: 600,
      postcopyRecoveryTimeoutS: 600,
      ...policy,
    },
    ...extra,
  };
}

/** The job's last status, once it has ended. */
export async function finalOf(migrations: OutgoingMigrations, jobId: string): Promise<MigrationStatus> {
  let last: MigrationStatus | undefined;
  await migrations.watch({ jobId }, (s) => (last = s)).done;
  return last!;
}
