// Routed migration networks (the Migration Network feature page's known limitation, "hosts on
// different subnets … traffic would flow via the default gateway", which Ferry lifts): with
// `scripts/lab up --mig-routed` each host's migration network is its own /24 and a router
// namespace joins them. A dirtying guest migrates lab1 (198.19.11.2) → lab2 (198.19.12.2): the
// source address is the one its route to dstqemu leaves by, the pinhole admits that address only,
// ≥ 99 % of the bytes are counted on the migration NIC, and the router forwarded them (its own
// counters, which Ferry never reads).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { unary } from '../../shared/client.js';
import {
  agent,
  closeAgents,
  domainState,
  pinholeRulesAfterJob,
  pinholesOn,
  tryConnect,
  waitForStatus,
  watchToEnd,
} from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, labExec, labHost, setLabMigrationLink } from '../support/lab.js';

const run = promisify(execFile);
const SRC = 'lab1';
const DST = 'lab2';
const THIRD = 'lab3';
const VM = 'routed-guest';
const HOSTS = 3;

/** Bytes the router received from a host's migration link (its end of host i's eth1 is fl{i}g). */
async function routerRx(index: number): Promise<number> {
  const { stdout } = await run('ip', ['netns', 'exec', 'labr', 'cat', `/sys/class/net/fl${index}g/statistics/rx_bytes`]);
  return Number(stdout.trim());
}

before(async () => {
  await ensureLab(HOSTS);
  await setLabMigrationLink(HOSTS, 'veth', 1500, 'routed');
});

after(async () => {
  await destroyVm(SRC, VM).catch(() => undefined);
  await destroyVm(DST, VM).catch(() => undefined);
  await setLabMigrationLink(HOSTS, 'veth', 1500, 'flat');
  closeAgents();
});

test('hosts on different migration subnets: routed over the migration network, the pinhole for the routed source address only', async () => {
  const src = labHost(SRC);
  const dst = labHost(DST);
  assert.equal(src.migIp, '198.19.11.2');
  assert.equal(dst.migIp, '198.19.12.2');
  const { migrationNetwork } = await unary(agent(SRC).host, 'GetCapabilities', {});
  assert.deepEqual([migrationNetwork?.cidr, migrationNetwork?.address], ['198.19.11.0/24', src.migIp]);

  const { uuid } = await createVm(SRC, VM, { memMiB: 384, dirtyMbps: 5 });
  const before = await routerRx(src.index);
  const { jobId } = await unary(agent(SRC).migration, 'Migrate', {
    vmId: uuid,
    dst: dst.mgmtIp,
    dstqemu: dst.migIp,
    policy: { maxBandwidthMibps: 40 },
  });
  const progress = watchToEnd(SRC, jobId);
  const running = await waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING');
  const port = Number(/:(\d+)$/.exec(running.migrateUri)?.[1]);
  const holes = await pinholesOn(DST);
  assert.deepEqual(
    holes.map((h) => [h.source, h.destination, h.ports]),
    [[src.migIp, dst.migIp, [port]]],
    'one hole, from the source address its route chose',
  );
  assert.notEqual(await tryConnect(THIRD, dst.migIp, port), 'connected', 'a third host on its own subnet is turned away');

  const final = (await progress).at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.equal(final.network, 'NETWORK_ROLE_MIGRATION');
  const share = final.bytesOnMigrationNic / (final.bytesOnMigrationNic + final.bytesOnManagementNic);
  assert.ok(share >= 0.99, `${(share * 100).toFixed(2)} % on the migration NIC`);
  const routed = (await routerRx(src.index)) - before;
  assert.ok(
    routed >= final.bytesOnMigrationNic * 0.99,
    `the router received ${routed} bytes from lab1, the job sent ${final.bytesOnMigrationNic}`,
  );
  assert.equal(await domainState(DST, VM), 'running');
  assert.deepEqual(await pinholeRulesAfterJob(DST), []);
});

test("a route to the destination's migration address through the management NIC: it migrates, the warning names the NIC, and the bytes are reported where they went", async () => {
  const dst = labHost(DST);
  await destroyVm(DST, VM);
  const { uuid } = await createVm(SRC, VM);
  // The operator's mistake: lab2's migration subnet routed out of lab1's management NIC, from
  // lab1's migration address (lab2 answers ARP for its address there, as Linux does for any of
  // its addresses; its replies come back through the router).
  await labExec(SRC, ['ip', 'route', 'add', '198.19.12.0/24', 'dev', 'eth0', 'src', labHost(SRC).migIp]);
  try {
    const { jobId } = await unary(agent(SRC).migration, 'Migrate', { vmId: uuid, dst: dst.mgmtIp, dstqemu: dst.migIp });
    const final = (await watchToEnd(SRC, jobId)).at(-1)!;
    assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
    assert.ok(
      final.warnings.some((w) => w === `the route to ${dst.migIp} leaves through the management NIC eth0`),
      final.warnings.join('\n'),
    );
    assert.equal(final.sourceMigrationAddress, labHost(SRC).migIp);
    assert.ok(
      final.bytesOnManagementNic > 100 * final.bytesOnMigrationNic,
      `management ${final.bytesOnManagementNic}, migration ${final.bytesOnMigrationNic}`,
    );
  } finally {
    await labExec(SRC, ['ip', 'route', 'del', '198.19.12.0/24', 'dev', 'eth0'], { allowFail: true });
  }
});
