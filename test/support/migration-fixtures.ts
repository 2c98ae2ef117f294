// What the unit tests of the migration core share: a command as the Migration
// service would hand it over (every policy default resolved), the core over
// in-memory ports, and waits.
import { OutgoingMigrations, type OutgoingMigrationsOptions } from '../../agent/migration/outgoing/outgoing-migrations.js';
import type { MigrateCommand, MigrationPolicy, MigrationStatus } from '../../agent/migration/types.js';
import { FakeHibernationFiles, FakeHypervisor, FakeNetwork, FakePeers, fastClock } from './fake-ports.js';

/** OutgoingMigrations over fresh fakes (what `extra` does not replace), with its ports for the test to drive. */
export function fakeOutgoing(extra: Partial<OutgoingMigrationsOptions> = {}) {
  const hypervisor = new FakeHypervisor();
  const peers = new FakePeers();
  const network = new FakeNetwork();
  const hibernationFiles = new FakeHibernationFiles();
  const migrations = new OutgoingMigrations({
    hypervisor,
    peers,
    network,
    hibernationFiles,
    clock: fastClock,
    hostName: 'lab1',
    abortWaitMs: 2000,
    answerWaitMs: 4000,
    pollIntervalMs: 5,
    dconnuriTemplate: 'qemu+tcp://{host}/system',
    maxOutgoing: () => 2,
    retentionMs: 60_000,
    ...extra,
  });
  return { hypervisor, peers, network, hibernationFiles, migrations };
}

export function remoteCommand(vmId: string, extra: Partial<MigrateCommand> = {}, policy: Partial<MigrationPolicy> = {}): MigrateCommand {
  return {
    vmId,
    mode: 'remote',
    dst: '198.18.0.2',
    dstparams: '',
    dstqemu: '198.19.0.2',
    migrationNetwork: '',
    overwrite: false,
    policy: {
      preset: '',
      maxBandwidthMibps: 0,
      parallelConnections: 1,
      compression: 'none',
      autoConverge: false,
      postCopy: false,
      encrypted: false,
      copyStorage: 'none',
      initialDowntimeMs: 0,
      schedule: [],
      completionTimeoutSPerGib: 0,
      stallTimeoutS: 0,
      queueTimeoutS: 600,
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
