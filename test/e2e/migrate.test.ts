// The migrate verb end to end on the lab: engine (root namespace) → ferryd on
// lab1 → ferryd on lab2 → pinhole → libvirt P2P over the migration NIC, with
// lab3 as a third host that must not get in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import { createVm, destroyVm, ensureLab } from '../support/lab.js';
import {
  agent,
  closeAgents,
  domainState,
  pinholesOn,
  pinholeRulesAfterJob,
  sockets,
  tryConnect,
  waitForStatus,
  watchToEnd,
} from '../support/ferry.js';
import { sleep } from '../support/wait.js';

const VM = 'e2e-migrate';
const VM_MGMT = 'e2e-migrate-mgmt';

before(async () => {
  await ensureLab(3);
});

after(async () => {
  for (const host of ['lab1', 'lab2']) for (const name of [VM, VM_MGMT]) await destroyVm(host, name);
  closeAgents();
});

function portOf(uri: string): number {
  return Number(/:(\d+)$/.exec(uri)?.[1]);
}

test('a guest migrates lab1 → lab2 over the migration NIC through a pinhole only the source can use', async () => {
  // A guest that really writes memory, with a bandwidth cap, so the copy
  // lasts long enough to look at the destination while it runs.
  const { uuid } = await createVm('lab1', VM, { memMiB: 384, dirtyMbps: 5 });
  const accepted = await unary(agent('lab1').migration, 'Migrate', {
    vmId: uuid,
    dst: '198.18.0.2',
    dstqemu: '198.19.0.2',
    policy: { maxBandwidthMibps: 20 },
  });
  const progress = watchToEnd('lab1', accepted.jobId);
  const running = await waitForStatus('lab1', accepted.jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING');
  const port = portOf(running.migrateUri);
  assert.equal(running.migrateUri, `tcp://198.19.0.2:${port}`);

  // While the copy runs: the hole exists for lab1's migration address only,
  // QEMU listens on dstqemu:PORT only, and a third host is turned away.
  const holes = await pinholesOn('lab2');
  assert.equal(holes.length, 1, holes.map((h) => h.text).join('\n'));
  assert.deepEqual(
    { source: holes[0]?.source, destination: holes[0]?.destination, ports: holes[0]?.ports },
    { source: '198.19.0.1', destination: '198.19.0.2', ports: [port] },
  );
  // QEMU listens on dstqemu:PORT only (never on 0.0.0.0), and the stream runs
  // between the two migration addresses.
  let onPort: string[] = [];
  for (let i = 0; i < 100 && !onPort.some((s) => s.startsWith('ESTAB ')); i++) {
    onPort = await sockets('lab2', port);
    await sleep(50);
  }
  assert.ok(
    onPort.some((s) => s.startsWith('ESTAB ')),
    `no migration stream on the destination: ${onPort}`,
  );
  // (A TIME-WAIT from lab1 is an earlier migration's stream on a reused port.)
  for (const s of onPort) {
    assert.match(
      s,
      new RegExp(`^(LISTEN 198\\.19\\.0\\.2:${port} 0\\.0\\.0\\.0:\\*|(ESTAB|TIME-WAIT) 198\\.19\\.0\\.2:${port} 198\\.19\\.0\\.1:\\d+)$`),
    );
  }
  assert.equal(await tryConnect('lab3', '198.19.0.2', port), 'refused');

  const seen = await progress;
  const final = seen.at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assertMonotonic(seen);
  assert.equal(final.network, 'NETWORK_ROLE_MIGRATION');
  const share = final.bytesOnMigrationNic / (final.bytesOnMigrationNic + final.bytesOnManagementNic);
  assert.ok(
    share >= 0.99,
    `only ${(share * 100).toFixed(2)} % of the bytes went over the migration NIC (${final.bytesOnMigrationNic} vs ${final.bytesOnManagementNic})`,
  );
  // Zero pages travel as markers: a freshly booted guest sends tens of MiB, not 384.
  assert.ok(final.bytesOnMigrationNic > 16 * 2 ** 20, `a 384 MiB guest moved only ${final.bytesOnMigrationNic} bytes`);

  assert.equal(await domainState('lab2', VM), 'running');
  assert.equal(await domainState('lab1', VM), 'absent'); // undefined on the source: no second copy to start by mistake
  assert.deepEqual(await pinholeRulesAfterJob('lab2'), []);
});

test('without dstqemu the migration uses the management network, and the status says so', async () => {
  const { uuid } = await createVm('lab1', VM_MGMT);
  const accepted = await unary(agent('lab1').migration, 'Migrate', { vmId: uuid, dst: '198.18.0.2' });
  const seen = await watchToEnd('lab1', accepted.jobId);
  const final = seen.at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.equal(final.network, 'NETWORK_ROLE_MANAGEMENT');
  assert.match(final.migrateUri, /^tcp:\/\/198\.18\.0\.2:\d+$/);
  assert.ok(
    final.warnings.some((w) => /management network/.test(w)),
    final.warnings.join('; '),
  );
  assert.equal(await domainState('lab2', VM_MGMT), 'running');
});

function assertMonotonic(seen: MigrationProgress__Output[]): void {
  let last = 0;
  for (const p of seen) {
    assert.ok(p.progressPercent >= last, `progress went back from ${last} to ${p.progressPercent}`);
    if (p.phase !== 'MIGRATION_PHASE_COMPLETED') assert.ok(p.progressPercent <= 99);
    last = p.progressPercent;
  }
}
