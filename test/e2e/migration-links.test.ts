// oVirt's Migration Network test plan on the link types this kernel offers
// (https://www.ovirt.org/develop/release-management/features/network/migration-network.html:
// "Test for: regular network, bridgeless network, VLAN, bond", and MTU 9000): each layout of
// `scripts/lab up --mig-link` carries a dirtying guest lab1 → lab2, and the proof is taken on the
// device that holds the migration address: Ferry names that device (GetCapabilities), counts
// ≥ 99 % of the bytes on it, and the kernel's own counter of that device moved at least as much.
// At MTU 9000 the migration's TCP segments are jumbo (the socket's MSS, from `ss -ti`); with 9000
// on one host and 1500 on the other it still migrates, at the smaller MSS: each side announces
// its MSS in its SYN, so neither sends segments the other's link cannot carry.
// VLAN and bond run where the kernel has 8021q and bonding (`scripts/lab links` says which);
// elsewhere the test holds the lab to saying so: it refuses the layout, naming what the kernel
// lacks, and changes nothing (NIC discovery of those is in test/unit/network-link-topology.test.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import { agent, closeAgents, domainState, waitForStatus, watchToEnd } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, labExec, labHost, type MigrationLinkType, setLabMigrationLink, labLinks } from '../support/lab.js';
import { sleep } from '../support/wait.js';

const SRC = 'lab1';
const DST = 'lab2';
const VM = 'link-guest';
const HOSTS = 3;

/** The device that carries the migration address in each layout (lab.d/mig-link.sh). */
const DEVICE: Record<MigrationLinkType, string> = {
  veth: 'eth1',
  bridge: 'br-mig',
  vlan: 'eth1.100',
  bond: 'bond-mig',
  vxlan: 'vx-mig',
};
/** What Ferry says the device is stacked on (agent/network/link-state.ts). */
const STACK: Record<MigrationLinkType, RegExp> = {
  veth: /^eth1\b/,
  bridge: /^br-mig \(bridge.*eth1/,
  vlan: /^eth1\.100 \(vlan\) on eth1/,
  bond: /^bond-mig \(bond: eth1 up, eth2 up\)/,
  vxlan: /^vx-mig \(vxlan\) on eth1/,
};

let supported = new Set<MigrationLinkType>();

before(async () => {
  await ensureLab(HOSTS);
  ({ supported } = await labLinks());
});

after(async () => {
  await destroyVm(SRC, VM).catch(() => undefined);
  await destroyVm(DST, VM).catch(() => undefined);
  await setLabMigrationLink(HOSTS, 'veth', 1500); // the layout every other test expects
  closeAgents();
});

async function deviceBytes(host: string, device: string, direction: 'tx' | 'rx'): Promise<number> {
  return Number((await labExec(host, ['cat', `/sys/class/net/${device}/statistics/${direction}_bytes`])).stdout.trim());
}
const txBytes = (host: string, device: string) => deviceBytes(host, device, 'tx');

/** The migration stream's MSS on the source, read while it runs (`ss -ti` to the destination's port). */
async function migrationMss(port: number): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const out = (await labExec(SRC, ['ss', '-tinH', 'state', 'established', 'dst', `${labHost(DST).migIp}:${port}`])).stdout;
    const mss = /\bmss:(\d+)/.exec(out)?.[1];
    if (mss) return Number(mss);
    await sleep(50);
  }
  throw new Error(`no established migration stream to ${labHost(DST).migIp}:${port} on ${SRC}`);
}

interface Moved {
  final: MigrationProgress__Output;
  mss: number;
  deviceTx: number;
  underlayTx: number;
  /** What the destination's own device received meanwhile: a counter Ferry does not read. */
  destinationRx: number;
}

/** A dirtying guest migrated lab1 → lab2 over the migration network, with what the kernel counted. */
async function migrateGuest(link: MigrationLinkType): Promise<Moved> {
  const device = DEVICE[link];
  const { uuid } = await createVm(SRC, VM, { memMiB: 384, dirtyMbps: 5 });
  const [deviceBefore, underlayBefore, rxBefore] = await Promise.all([
    txBytes(SRC, device),
    txBytes(SRC, 'eth1'),
    deviceBytes(DST, device, 'rx'),
  ]);
  const { jobId } = await unary(agent(SRC).migration, 'Migrate', {
    vmId: uuid,
    dst: labHost(DST).mgmtIp,
    dstqemu: labHost(DST).migIp,
    policy: { maxBandwidthMibps: 40 },
  });
  const progress = watchToEnd(SRC, jobId);
  const running = await waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING');
  const mss = await migrationMss(Number(/:(\d+)$/.exec(running.migrateUri)?.[1]));
  const final = (await progress).at(-1)!;
  const [deviceAfter, underlayAfter, rxAfter] = await Promise.all([
    txBytes(SRC, device),
    txBytes(SRC, 'eth1'),
    deviceBytes(DST, device, 'rx'),
  ]);
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.equal(await domainState(DST, VM), 'running');
  await destroyVm(DST, VM);
  return {
    final,
    mss,
    deviceTx: deviceAfter - deviceBefore,
    underlayTx: underlayAfter - underlayBefore,
    destinationRx: rxAfter - rxBefore,
  };
}

/** ≥ 99 % of the job's bytes counted on the migration device, and the kernel's counter of that device agrees. */
function assertOnDevice(link: MigrationLinkType, moved: Moved): void {
  const { final, deviceTx, underlayTx, destinationRx } = moved;
  const share = final.bytesOnMigrationNic / (final.bytesOnMigrationNic + final.bytesOnManagementNic);
  assert.ok(
    share >= 0.99,
    `${(share * 100).toFixed(2)} % on the migration NIC (${final.bytesOnMigrationNic} vs ${final.bytesOnManagementNic})`,
  );
  assert.ok(final.bytesOnMigrationNic > 16 * 2 ** 20, `a 384 MiB guest moved only ${final.bytesOnMigrationNic} bytes`);
  assert.ok(deviceTx >= final.bytesOnMigrationNic, `${DEVICE[link]} sent ${deviceTx} bytes, Ferry counted ${final.bytesOnMigrationNic}`);
  assert.ok(deviceTx < final.bytesOnMigrationNic * 1.1, `${DEVICE[link]} sent ${deviceTx} bytes: more than the migration`);
  assert.ok(destinationRx >= final.bytesOnMigrationNic * 0.99, `lab2's ${DEVICE[link]} received ${destinationRx} bytes`);
  // A stacked device's frames leave through eth1 (a VXLAN's with 50 bytes of encapsulation each).
  if (link !== 'veth' && link !== 'bond') assert.ok(underlayTx >= deviceTx, `eth1 sent ${underlayTx} < ${deviceTx}`);
}

async function assertFerryNames(link: MigrationLinkType): Promise<void> {
  const { migrationNetwork } = await unary(agent(SRC).host, 'GetCapabilities', {});
  assert.equal(migrationNetwork?.interface, DEVICE[link]);
  assert.equal(migrationNetwork?.up, true, migrationNetwork?.downReason);
  assert.match(migrationNetwork?.link ?? '', STACK[link]);
}

for (const link of ['bridge', 'vxlan', 'vlan', 'bond'] as const) {
  for (const mtu of [1500, 9000]) {
    const where = link === 'vlan' || link === 'bond' ? ` (a kernel without ${link} devices: the lab refuses the layout, saying so)` : '';
    test(`${link} at MTU ${mtu}: Ferry names the device, ≥ 99 % of the bytes on it, segments of that MTU${where}`, async (t) => {
      if (!supported.has(link)) {
        const before = (await labLinks()).inUse;
        const refused = await setLabMigrationLink(HOSTS, link, mtu).then(
          () => undefined,
          (err: Error) => err,
        );
        assert.match(refused?.message ?? 'built', new RegExp(`--mig-link ${link}: this kernel has no ${link} devices`));
        assert.equal((await labLinks()).inUse, before, 'the layout in use is unchanged');
        t.diagnostic(`this kernel has no ${link} devices: the lab refuses the layout and says so`);
        return;
      }
      await setLabMigrationLink(HOSTS, link, mtu);
      await assertFerryNames(link);
      const moved = await migrateGuest(link);
      assertOnDevice(link, moved);
      // IPv4 and TCP headers (40 bytes) and the timestamp option (12) leave MTU − 52 of payload.
      assert.equal(moved.mss, mtu - 52, `MSS ${moved.mss} at MTU ${mtu}`);
      t.diagnostic(`${link} MTU ${mtu}: ${moved.final.bytesOnMigrationNic} bytes, MSS ${moved.mss}, ${DEVICE[link]} tx ${moved.deviceTx}`);
    });
  }
}

test('MTU 9000 on the source, 1500 on the destination: it migrates, at the destination MSS', async () => {
  await setLabMigrationLink(HOSTS, 'bridge', 9000);
  await labExec(DST, ['ip', 'link', 'set', 'dev', 'br-mig', 'mtu', '1500']);
  const moved = await migrateGuest('bridge');
  assertOnDevice('bridge', moved);
  assert.equal(moved.mss, 1500 - 52, `MSS ${moved.mss}: the source kept to what the destination announced`);
});
