// A cold migration across a restart of the source agent, both cores in one
// process over in-memory ports: what the journal holds at each step, and
// what the next run makes of it. At step transfer the copy died with the
// agent, so the job fails and the destination drops its copies; at step
// define the offline migration is run again and the job completes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobJournal, type JournaledJob } from '../../agent/migration/jobs/job-journal.js';
import {
  FakeDestinationVolumes,
  FakeHibernationFiles,
  FakeHypervisor,
  FakeNetwork,
  FakePinholes,
  FakeSourceVolumes,
  FakeVolumeChannel,
  type VolumeStore,
} from '../support/fake-ports.js';
import { LoopbackPeers } from '../support/loopback-peers.js';
import { MemoryJournal } from '../support/memory-journal.js';
import { finalOf, incomingMigrations, outgoingMigrations, remoteRequest } from '../support/migration-fixtures.js';
import { until } from '../support/wait.js';

const VM = '0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5';
const DISK = '/var/lib/libvirt/images/restart.qcow2';

/** The two hosts (they outlive the agent) and the journal on the source's disk. */
function hosts() {
  const sourceStore: VolumeStore = new Map([[DISK, Buffer.from('volume bytes')]]);
  const destinationStore: VolumeStore = new Map();
  const source = new FakeHypervisor();
  source.addVm(VM, 'shutoff');
  source.disks = [{ target: 'vda', path: DISK, format: 'qcow2', capacityBytes: 12, allocationBytes: 12 }];
  const destination = new FakeHypervisor();
  source.offlineTarget = destination;
  const channel = new FakeVolumeChannel(sourceStore, destinationStore);
  const pinholes = new FakePinholes();
  const incoming = incomingMigrations({
    pinholes,
    cold: { volumes: new FakeDestinationVolumes(destinationStore), channel, files: new FakeHibernationFiles(), hypervisor: destination },
  });
  return { source, destination, sourceStore, destinationStore, channel, incoming, pinholes, disk: new MemoryJournal<JournaledJob>() };
}

/** One run of the source agent over the journal. */
function sourceAgent(h: ReturnType<typeof hosts>) {
  const journal = new JobJournal(h.disk, (id, err) => assert.fail(`journal write of ${id} failed: ${String(err)}`), Date.now);
  const peers = new LoopbackPeers(h.incoming);
  const migrations = outgoingMigrations({
    hypervisor: h.source,
    network: new FakeNetwork(),
    peers,
    journal,
    sourceVolumes: new FakeSourceVolumes(h.sourceStore),
    volumeChannel: h.channel,
  });
  return { migrations, journal, peers };
}

describe('cold migration across a restart of the source agent', () => {
  it('dies at step define: the next run moves the definition again and completes, the source copy removed', async () => {
    const h = hosts();
    let release = () => {};
    h.source.offlineGate = new Promise<void>((resolve) => (release = resolve));
    const first = sourceAgent(h);
    const { jobId } = await first.migrations.migrate(remoteRequest(VM, { mode: 'cold' }));
    await until('step define journaled', () => h.disk.records.get(jobId)?.data.status.coldCopy?.step === 'define');
    await first.journal.freeze();
    h.source.offlineGate = undefined;
    const second = sourceAgent(h);
    assert.equal(second.migrations.recover(h.disk.load().map((r) => r.data)), 1);
    const final = await finalOf(second.migrations, jobId);
    release();
    assert.equal(final.phase, 'completed', JSON.stringify(final.error));
    assert.ok(final.warnings.some((w) => /restarted while the definition was moving/.test(w)));
    assert.equal(h.destination.vms.get(VM)?.state, 'shutoff');
    assert.deepEqual(h.destinationStore.get(DISK), Buffer.from('volume bytes'));
    assert.equal(h.sourceStore.size, 0);
    assert.equal(h.source.vms.has(VM), false);
    assert.equal(h.incoming.count, 0);
  });

  it('dies during the transfer: the next run fails the job, the destination drops its copies, the VM stays', async () => {
    const h = hosts();
    h.channel.stall = true;
    const first = sourceAgent(h);
    const { jobId } = await first.migrations.migrate(remoteRequest(VM, { mode: 'cold' }));
    await until('the transfer started', () => h.channel.sends.length === 1);
    await first.journal.freeze();
    const second = sourceAgent(h);
    assert.equal(second.migrations.recover(h.disk.load().map((r) => r.data)), 1);
    const final = await finalOf(second.migrations, jobId);
    assert.equal(final.phase, 'failed');
    assert.equal(final.error?.step, 'recover');
    assert.match(final.error?.message ?? '', /restarted during the transfer.*the VM is intact on the source/);
    assert.deepEqual(
      second.peers.finished.map((f) => f.success),
      [false],
    );
    await until('the destination dropped its copies', () => h.destinationStore.size === 0);
    assert.equal(h.incoming.count, 0);
    assert.equal(h.source.vms.get(VM)?.state, 'shutoff');
    assert.deepEqual(h.sourceStore.get(DISK), Buffer.from('volume bytes'));
    assert.deepEqual(h.source.offlineMigrations, []);
  });
});
