// parallel_connections on the lab, lab3 → lab4: what libvirt received is
// read back from QEMU itself (HMP "info migrate_*" on the source while the
// job runs) and from the destination's sockets (one main connection plus one
// per multifd channel). A compression method is always chosen explicitly:
// zstd where libvirt has multifd compression (>= 9.4), none where it has not
// (this lab's 9.0), and a method the host cannot do is refused up front.
import { test, before, after as afterAll } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import { agent, closeAgents, domainState, sockets, waitForStatus } from '../support/ferry.js';
import { destroyVm, ensureLab, virsh } from '../support/lab.js';
import { after, CAPPED_MIBPS, follow, migrate, startDirtyGuest } from '../support/policy-lab.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';

const VM = 'pol-par';

before(async () => {
  await ensureLab(4);
});

afterAll(async () => {
  await destroyVm('lab3', VM);
  closeAgents();
});

/** "9.0.0" → 9000000, libvirt's own numbering. */
function versionNumber(text: string): number {
  const [major = 0, minor = 0, micro = 0] = text.split('.').map(Number);
  return major * 1_000_000 + minor * 1000 + micro;
}

test('parallel_connections 4: multifd with 4 channels and an explicit compression method, as QEMU and the sockets show; completes', async () => {
  const libvirt = (await unary(agent('lab3').host, 'GetCapabilities', {})).libvirtVersion;
  const multifdCompression = versionNumber(libvirt) >= 9_004_000;
  const uuid = await startDirtyGuest('lab3', VM);

  // What this host cannot do is refused before anything starts.
  await assert.rejects(
    migrate('lab3', uuid, 'lab4', { parallelConnections: 4, compression: 'COMPRESSION_XBZRLE' }),
    /INVALID_ARGUMENT|xbzrle works with a single connection only/,
  );
  if (!multifdCompression) {
    await assert.rejects(
      migrate('lab3', uuid, 'lab4', { parallelConnections: 4, compression: 'COMPRESSION_ZSTD' }),
      new RegExp(`needs libvirt >= 9\\.4\\.0 \\(this host: libvirt ${libvirt.replace(/\./g, '\\.')}`),
    );
  }

  const { jobId } = await migrate('lab3', uuid, 'lab4', {
    parallelConnections: 4,
    maxBandwidthMibps: CAPPED_MIBPS,
    completionTimeoutPerGib: protoTimeFromMs(120 * 1000),
    schedule: [after({ iteration: 2 }, 'SET_DOWNTIME', 8000)],
  });
  const progress = follow('lab3', jobId);
  const running = await waitForStatus('lab3', jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING' && s.iteration >= 1, 60_000);
  const expected = multifdCompression ? 'zstd' : 'none';
  assert.equal(running.policy!.compression, `COMPRESSION_${expected.toUpperCase()}`);

  // QEMU's own view of the running job on the source.
  const capabilities = await virsh('lab3', 'qemu-monitor-command', VM, '--hmp', 'info migrate_capabilities');
  assert.match(capabilities, /multifd: on/);
  assert.match(capabilities, /xbzrle: off/);
  assert.match(capabilities, /compress: off/);
  const parameters = await virsh('lab3', 'qemu-monitor-command', VM, '--hmp', 'info migrate_parameters');
  assert.match(parameters, /multifd-channels: 4\b/);
  assert.match(parameters, new RegExp(`multifd-compression: ${expected}\\b`));
  assert.match(parameters, new RegExp(`max-bandwidth: ${CAPPED_MIBPS * 1024 * 1024} bytes/second`));

  // 1 main connection + 4 multifd channels into the destination's port, all from lab3's migration address.
  const port = Number(/:(\d+)$/.exec(running.migrateUri)![1]);
  const established = (await sockets('lab4', port)).filter((s) => s.startsWith('ESTAB '));
  assert.equal(established.length, 5, established.join('\n'));
  for (const s of established) assert.match(s, new RegExp(`^ESTAB 198\\.19\\.0\\.4:${port} 198\\.19\\.0\\.3:\\d+$`));

  const { final } = await progress;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.equal(final.policy!.parallelConnections, 4);
  assert.equal(await domainState('lab4', VM), 'running');
});
