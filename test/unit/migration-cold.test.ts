// Cold migration (mode COLD) through both cores at once: the source's
// OutgoingMigrations wired to the destination's IncomingMigrations, over
// in-memory volumes and data channel. What each side holds at the end is the
// subject: the VM and its volumes on exactly one host, never half of them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FerryError, isFerryError } from '../../shared/errors.js';
import type { VmDisk } from '../../agent/migration/ports.js';
import {
  FakeDestinationVolumes,
  FakeHibernationFiles,
  FakeHypervisor,
  FakePinholes,
  FakeSourceVolumes,
  FakeVolumeChannel,
  type VolumeStore,
} from '../support/fake-ports.js';
import { LoopbackPeers } from '../support/loopback-peers.js';
import { finalOf, incomingMigrations, outgoingMigrations, remoteRequest } from '../support/migration-fixtures.js';
import { until } from '../support/wait.js';

const VM = '5b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';
const INSIDE = '/var/lib/libvirt/images/cold-a.qcow2';
const OUTSIDE = '/srv/guests/cold-b.raw';
const MAPPED = `/var/lib/libvirt/images/${VM}/cold-b.raw`;

function disk(target: string, path: string, bytes: number): VmDisk {
  return { target, path, format: path.endsWith('.qcow2') ? 'qcow2' : 'raw', capacityBytes: bytes, allocationBytes: bytes };
}

function twoHosts(options: { state?: 'shutoff' | 'running' } = {}) {
  const sourceStore: VolumeStore = new Map([
    [INSIDE, Buffer.from('qcow2 container bytes')],
    [OUTSIDE, Buffer.alloc(4096, 7)],
  ]);
  const destinationStore: VolumeStore = new Map();
  const source = new FakeHypervisor();
  source.addVm(VM, options.state ?? 'shutoff');
  source.disks = [disk('vda', INSIDE, 21), disk('vdb', OUTSIDE, 4096)];
  const destination = new FakeHypervisor();
  source.offlineTarget = destination;
  const channel = new FakeVolumeChannel(sourceStore, destinationStore);
  const destinationVolumes = new FakeDestinationVolumes(destinationStore);
  const destinationFiles = new FakeHibernationFiles();
  const pinholes = new FakePinholes();
  const incoming = incomingMigrations({
    pinholes,
    cold: { volumes: destinationVolumes, channel, files: destinationFiles, hypervisor: destination },
  });
  const peers = new LoopbackPeers(incoming);
  const sourceFiles = new FakeHibernationFiles();
  const sourceVolumes = new FakeSourceVolumes(sourceStore);
  const migrations = outgoingMigrations({
    hypervisor: source,
    peers,
    hibernationFiles: sourceFiles,
    sourceVolumes,
    volumeChannel: channel,
  });
  return {
    source,
    destination,
    sourceStore,
    destinationStore,
    channel,
    incoming,
    pinholes,
    peers,
    sourceFiles,
    destinationFiles,
    destinationVolumes,
    migrations,
  };
}

const coldRequest = (extra = {}) => remoteRequest(VM, { mode: 'cold', ...extra });

/** Nothing of the migration is left on the destination, and the source still has all of it. */
function assertUndone(hosts: ReturnType<typeof twoHosts>, state = 'shutoff'): void {
  assert.equal(hosts.destinationStore.size, 0, `destination volumes left: ${[...hosts.destinationStore.keys()].join(', ')}`);
  assert.equal(hosts.destination.vms.has(VM), false, 'the VM is defined on the destination');
  assert.deepEqual([...hosts.sourceStore.keys()].sort(), [OUTSIDE, INSIDE].sort());
  assert.equal(hosts.source.vms.get(VM)?.state, state);
  assert.equal(hosts.incoming.count, 0, 'the destination still holds a reservation');
  assert.deepEqual(hosts.pinholes.open_, [], 'a pinhole is still open');
}

describe('cold migration (mode COLD)', () => {
  it('moves the volumes and the definition, then removes the source copy', async () => {
    const hosts = twoHosts();
    const accepted = await hosts.migrations.migrate(coldRequest());
    const final = await finalOf(hosts.migrations, accepted.jobId);
    assert.equal(final.phase, 'completed', JSON.stringify(final.error));
    assert.deepEqual(hosts.destinationStore.get(INSIDE), Buffer.from('qcow2 container bytes'));
    assert.deepEqual(
      hosts.destinationStore.get(MAPPED),
      Buffer.alloc(4096, 7),
      'a volume outside the image directories is mapped into them',
    );
    assert.deepEqual(hosts.source.offlineMigrations, [
      { vmId: VM, plan: { dconnuri: 'qemu+tcp://198.18.0.2/system', diskMoves: [{ from: OUTSIDE, to: MAPPED }] } },
    ]);
    assert.equal(hosts.destination.vms.get(VM)?.state, 'shutoff');
    assert.equal(hosts.sourceStore.size, 0, 'the source copy is removed');
    assert.equal(hosts.source.vms.has(VM), false, 'the source definition is removed');
    assert.equal(final.coldCopy?.step, 'done');
    assert.equal(final.coldCopy?.verified, 2);
    assert.deepEqual(
      final.coldCopy?.volumes.map((v) => [v.id, v.sourcePath, v.destinationPath]),
      [
        ['vda', INSIDE, INSIDE],
        ['vdb', OUTSIDE, MAPPED],
      ],
    );
    assert.equal(final.data.processed, 21 + 4096);
    assert.equal(hosts.incoming.count, 0);
    assert.deepEqual(hosts.pinholes.open_, []);
    // The data channel was dialled from the source's migration address to the destination's pinhole.
    assert.equal(hosts.channel.sends[0]?.address, '198.19.0.2');
    assert.equal(hosts.channel.sends[0]?.maxBandwidthMibps(), 0, 'unlimited unless the policy caps it');
    assert.equal(hosts.peers.finished.at(-1)?.success, true);
  });

  it("caps the data channel at the policy's max_bandwidth", async () => {
    const hosts = twoHosts();
    const accepted = await hosts.migrations.migrate(coldRequest({ policy: { maxBandwidthMibps: 40 } }));
    const final = await finalOf(hosts.migrations, accepted.jobId);
    assert.equal(final.phase, 'completed', JSON.stringify(final.error));
    assert.equal(hosts.channel.sends[0]?.maxBandwidthMibps(), 40);
    assert.equal(final.policy.maxBandwidthMibps, 40);
  });

  it('keeps the source copy with keep_source', async () => {
    const hosts = twoHosts();
    const accepted = await hosts.migrations.migrate(coldRequest({ keepSource: true }));
    const final = await finalOf(hosts.migrations, accepted.jobId);
    assert.equal(final.phase, 'completed');
    assert.equal(hosts.sourceStore.size, 2);
    assert.equal(hosts.source.vms.get(VM)?.state, 'shutoff');
    assert.equal(hosts.destinationStore.size, 2);
    assert.equal(final.coldCopy?.keepSource, true);
  });

  it('refuses a running VM before anything is prepared', async () => {
    const hosts = twoHosts({ state: 'running' });
    await assert.rejects(hosts.migrations.migrate(coldRequest()), (err: unknown) => {
      assert.ok(isFerryError(err, 'FAILED_PRECONDITION'));
      assert.equal(err.reason, 'VM_NOT_SHUT_OFF');
      assert.match(err.message, /shut it down first, or migrate it live/);
      return true;
    });
    assertUndone(hosts, 'running');
  });

  it('refuses a VM whose UEFI variables would stay behind, before anything is prepared', async () => {
    const hosts = twoHosts();
    hosts.source.definition_ = { hostState: ['UEFI variables /var/lib/libvirt/qemu/nvram/cold_VARS.fd'] };
    await assert.rejects(hosts.migrations.migrate(coldRequest()), (err: unknown) => {
      assert.ok(isFerryError(err, 'FAILED_PRECONDITION'));
      assert.match(
        err.message,
        /keeps UEFI variables \/var\/lib\/libvirt\/qemu\/nvram\/cold_VARS\.fd on this host, which a cold migration does not move/,
      );
      return true;
    });
    assertUndone(hosts);
  });

  it('says mode COLD when a shut-off VM is given to mode REMOTE', async () => {
    const hosts = twoHosts();
    await assert.rejects(hosts.migrations.migrate(remoteRequest(VM)), /not running: start it first, or move it shut off \(mode COLD\)/);
  });

  it('refuses a VM the destination already has defined, leaving it there', async () => {
    const hosts = twoHosts();
    hosts.destination.addVm(VM, 'shutoff');
    await assert.rejects(hosts.migrations.migrate(coldRequest()), (err: unknown) => {
      assert.ok(isFerryError(err, 'ALREADY_EXISTS'));
      assert.equal(err.reason, 'VM_ALREADY_DEFINED');
      return true;
    });
    assert.equal(hosts.destination.vms.has(VM), true, 'the destination keeps its own VM');
    assert.equal(hosts.destinationStore.size, 0);
    assert.equal(hosts.sourceStore.size, 2);
  });

  it('a volume that does not verify fails the job and undoes the destination', async () => {
    const hosts = twoHosts();
    hosts.channel.corrupt = 'vdb';
    const accepted = await hosts.migrations.migrate(coldRequest());
    const final = await finalOf(hosts.migrations, accepted.jobId);
    assert.equal(final.phase, 'failed');
    assert.equal(final.error?.step, 'transfer');
    assert.match(final.error?.message ?? '', /vdb: checksum differs/);
    assert.deepEqual(final.error?.vmState, { state: 'shutoff', reason: '' });
    assert.deepEqual(hosts.source.offlineMigrations, [], 'the definition never moved');
    await until('the destination volumes removed', () => hosts.destinationStore.size === 0);
    assertUndone(hosts);
  });

  it('a failed offline migration undefines what reached the destination and removes its volumes', async () => {
    const hosts = twoHosts();
    hosts.source.offlineFailure = new FerryError('FAILED_PRECONDITION', 'hook refused the domain');
    const accepted = await hosts.migrations.migrate(coldRequest());
    const final = await finalOf(hosts.migrations, accepted.jobId);
    assert.equal(final.phase, 'failed');
    assert.equal(final.error?.step, 'define');
    assert.match(final.error?.message ?? '', /hook refused the domain/);
    assertUndone(hosts);
  });

  it('a cancel during the transfer ends CANCELLED with both hosts as before', async () => {
    const hosts = twoHosts();
    hosts.channel.stall = true;
    const accepted = await hosts.migrations.migrate(coldRequest());
    await until('the transfer started', () => hosts.channel.sends.length === 1);
    await hosts.migrations.cancel({ jobId: accepted.jobId });
    const final = await finalOf(hosts.migrations, accepted.jobId);
    assert.equal(final.phase, 'cancelled');
    await until('the destination volumes removed', () => hosts.destinationStore.size === 0);
    assertUndone(hosts);
  });

  it('a hibernation travels with its saved state, and the destination writes its definition for Restore', async () => {
    const hosts = twoHosts();
    const statePath = '/var/lib/libvirt/images/cold.state';
    const definitionPath = '/var/lib/libvirt/images/cold.definition';
    hosts.sourceStore.set(statePath, Buffer.from('libvirt save image'));
    const domainXml = `<domain><uuid>${VM}</uuid><source file='${OUTSIDE}'/></domain>`;
    const definition = { format: 'ferry.hibernation/v1', vmId: VM, savedAt: '2026-12-04T00:00:00.000Z', statePath, domainXml };
    hosts.sourceFiles.files.set(definitionPath, JSON.stringify(definition));
    const accepted = await hosts.migrations.migrate(coldRequest({ dstparams: definitionPath }));
    const final = await finalOf(hosts.migrations, accepted.jobId);
    assert.equal(final.phase, 'completed', JSON.stringify(final.error));
    assert.deepEqual(final.coldCopy?.restore, { path: statePath, dstparams: definitionPath });
    assert.deepEqual(hosts.destinationStore.get(statePath), Buffer.from('libvirt save image'));
    const written = JSON.parse(hosts.destinationFiles.files.get(definitionPath) ?? '{}');
    assert.equal(written.statePath, statePath);
    assert.equal(written.domainXml, `<domain><uuid>${VM}</uuid><source file='${MAPPED}'/></domain>`);
    assert.equal(written.relocatedFrom, statePath, 'Restore must hand libvirt the moved disks');
    assert.equal(hosts.sourceFiles.files.has(definitionPath), false, 'the source definition file is removed');
    assert.equal(hosts.sourceStore.has(statePath), false, 'the source saved state is removed');
  });

  it('refuses a dstparams that is not the hibernation of this VM', async () => {
    const hosts = twoHosts();
    hosts.sourceFiles.files.set(
      '/x/other.def',
      JSON.stringify({ format: 'ferry.hibernation/v1', vmId: 'other', savedAt: '', statePath: '/x/s', domainXml: '' }),
    );
    await assert.rejects(hosts.migrations.migrate(coldRequest({ dstparams: '/x/other.def' })), /is the hibernation of VM other/);
    assertUndone(hosts);
  });

  it('ChangeMigrationParams changes the cap of a running transfer, and nothing else of a cold job', async () => {
    const hosts = twoHosts();
    hosts.channel.stall = true;
    const accepted = await hosts.migrations.migrate(coldRequest({ policy: { maxBandwidthMibps: 40 } }));
    await until('the transfer started', () => hosts.channel.sends.length === 1);
    const sent = hosts.channel.sends[0]!;
    assert.equal(sent.maxBandwidthMibps(), 40);
    const changed = await hosts.migrations.changeParams({ jobId: accepted.jobId }, { maxBandwidthMibps: 10, startPostCopy: false });
    assert.equal(sent.maxBandwidthMibps(), 10, 'the channel reads the new cap');
    assert.equal(changed.policy.maxBandwidthMibps, 10, "the job's policy shows it");
    await assert.rejects(
      hosts.migrations.changeParams({ jobId: accepted.jobId }, { maxDowntimeMs: 300, startPostCopy: false }),
      /cold migration: a shut-off VM has no downtime or post-copy/,
    );
    await assert.rejects(
      hosts.migrations.changeParams({ jobId: accepted.jobId }, { startPostCopy: true }),
      /only max_bandwidth_mibps changes/,
    );
    await hosts.migrations.cancel({ jobId: accepted.jobId });
    await assert.rejects(
      hosts.migrations.changeParams({ jobId: accepted.jobId }, { maxBandwidthMibps: 20, startPostCopy: false }),
      /already ended CANCELLED|already ended cancelled/,
    );
  });
});
