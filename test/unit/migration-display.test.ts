// The display network in the migration core: which consoles must move, the
// destination's display address, the refusal up front when it has none, and
// the plan that carries the move to the adapter. Both sides are the real cores
// over fakes, joined by peers that hand each call to the destination's core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyConsoles, displayMove } from '../../agent/migration/checks/source-display.js';
import { displayAddressOf, type DisplayNetwork } from '../../agent/migration/incoming/display-address.js';
import type {
  DisplayListen,
  IncomingCheckAnswer,
  IncomingCheckArgs,
  IncomingOffer,
  LocalAddress,
  PrepareIncomingArgs,
} from '../../agent/migration/ports.js';
import { isFerryError } from '../../shared/errors.js';
import { FakeHypervisor, FakeNetwork, FakePeers, FakePinholes } from '../support/fake-ports.js';
import { finalOf, incomingMigrations, MIGRATION_NIC, outgoingMigrations, remoteRequest } from '../support/migration-fixtures.js';
import { until } from '../support/wait.js';

const VM = '6f1c2a3e-0000-4000-8000-000000000001';
/** The source's management address (FakeNetwork's default eth0), where its consoles listen. */
const SOURCE_MGMT = '198.18.0.1';
const DESTINATION_MGMT: LocalAddress = { address: '198.18.0.2', prefixLength: 24, interface: 'eth0', family: 'ipv4' };
const vnc = (address: string): DisplayListen => ({ graphics: 'vnc', address });
const spice = (address: string): DisplayListen => ({ graphics: 'spice', address });

/** Peers whose CheckIncoming, PrepareIncoming and FinishIncoming are the destination core's own. */
class LoopbackPeers extends FakePeers {
  constructor(
    private readonly destination: {
      check(args: IncomingCheckArgs): Promise<IncomingCheckAnswer>;
      prepare(args: PrepareIncomingArgs): Promise<IncomingOffer>;
      finish(args: { jobId: string; vmId: string; success?: boolean }): Promise<boolean>;
    },
  ) {
    super();
  }
  override async checkIncoming(dst: string, args: IncomingCheckArgs): Promise<IncomingCheckAnswer> {
    await super.checkIncoming(dst, args);
    return this.destination.check(args);
  }
  override async prepareIncoming(_dst: string, args: PrepareIncomingArgs): Promise<IncomingOffer> {
    this.prepared.push(args);
    return this.destination.prepare(args);
  }
  override async finishIncoming(dst: string, args: { jobId: string; vmId: string; success: boolean }): Promise<void> {
    await super.finishIncoming(dst, args);
    await this.destination.finish(args);
  }
}

/** lab1 → lab2; `display` is lab2's display.network (changeable between calls, as a reload would). */
function hosts(consoles: DisplayListen[], display: DisplayNetwork | null) {
  const source = new FakeHypervisor();
  source.addVm(VM);
  source.consoles = consoles;
  const setting = { display };
  const pinholes = new FakePinholes();
  const destination = incomingMigrations({
    network: new FakeNetwork([DESTINATION_MGMT, MIGRATION_NIC]),
    pinholes,
    displayNetwork: () => setting.display,
  });
  const peers = new LoopbackPeers(destination);
  const migrations = outgoingMigrations({ hypervisor: source, peers });
  return { source, peers, pinholes, migrations, setting };
}

test('consoles: every address and loopback need nothing, an address of the source moves, another migrates unchanged', () => {
  const source = ['198.18.0.1', '198.19.0.1', '2001:db8::1'];
  const consoles = classifyConsoles(
    [
      vnc('0.0.0.0'),
      vnc('::'),
      spice('127.0.0.1'),
      vnc('::1'),
      vnc('198.18.0.1'),
      spice('2001:DB8:0::1'), // the source's address, written otherwise
      spice('198.18.0.9'),
      vnc('console.example'),
    ],
    source,
  );
  assert.deepEqual(consoles.move, [vnc('198.18.0.1'), spice('2001:DB8:0::1')]);
  assert.deepEqual(consoles.foreign, [spice('198.18.0.9'), vnc('console.example')]);
  assert.deepEqual(displayMove(consoles, '198.18.0.2'), { address: '198.18.0.2', replace: ['198.18.0.1', '2001:DB8:0::1'] });
  assert.equal(displayMove(consoles, ''), undefined, 'no display address: nothing to move to');
  assert.equal(displayMove(classifyConsoles([vnc('0.0.0.0')], source), '198.18.0.2'), undefined, 'nothing to move');
  const twice = classifyConsoles([vnc('198.18.0.1'), spice('198.18.0.1')], source);
  assert.deepEqual(displayMove(twice, '198.18.0.2')?.replace, ['198.18.0.1'], 'each address once');
});

test("the destination's display address: the one address in the CIDR or on the NIC (IPv4 first, no link-local), else none and why", async () => {
  const net = new FakeNetwork([
    DESTINATION_MGMT,
    { address: 'fe80::2', prefixLength: 64, interface: 'eth0', family: 'ipv6' },
    { address: '2001:db8:18::2', prefixLength: 64, interface: 'eth0', family: 'ipv6' },
    MIGRATION_NIC,
    { address: '198.19.0.3', prefixLength: 24, interface: 'eth1', family: 'ipv4' },
    { address: '2001:db8:20::2', prefixLength: 64, interface: 'eth2', family: 'ipv6' },
    { address: 'fe80::3', prefixLength: 64, interface: 'eth2', family: 'ipv6' },
  ]);
  assert.deepEqual(await displayAddressOf(net, null), { address: '', problem: '' });
  assert.deepEqual(await displayAddressOf(net, { cidr: '198.18.0.0/24' }), { address: '198.18.0.2', problem: '' });
  assert.deepEqual(await displayAddressOf(net, { cidr: '2001:db8:18::/64' }), { address: '2001:db8:18::2', problem: '' });
  assert.deepEqual(await displayAddressOf(net, { interface: 'eth0' }), { address: '198.18.0.2', problem: '' });
  assert.deepEqual(await displayAddressOf(net, { interface: 'eth2' }), { address: '2001:db8:20::2', problem: '' });
  assert.deepEqual(await displayAddressOf(net, { cidr: '198.17.0.0/24' }), {
    address: '',
    problem: 'this host has no address in display.network 198.17.0.0/24',
  });
  assert.deepEqual(await displayAddressOf(net, { cidr: '198.19.0.0/24' }), {
    address: '',
    problem: 'this host has 2 addresses in display.network 198.19.0.0/24 (198.19.0.2, 198.19.0.3): give a narrower CIDR',
  });
  assert.match(
    (await displayAddressOf(net, { interface: 'eth1' })).problem,
    /2 addresses on eth1 \(display\.network\).*give a CIDR instead/,
  );
  assert.equal((await displayAddressOf(net, { interface: 'eth9' })).problem, 'this host has no address on eth9 (display.network)');
});

test('a console on an address of the source and a destination without a display network: refused up front, naming the address and what to set', async () => {
  const { migrations, peers, pinholes, source } = hosts([vnc(SOURCE_MGMT)], null);
  const report = await migrations.check(remoteRequest(VM));
  assert.equal(report.ok, false);
  assert.deepEqual(
    report.blocking.map((f) => `${f.side} ${f.reason}`),
    ['destination GRAPHICS_LISTEN_ADDRESS'],
  );
  const [finding] = report.blocking;
  assert.match(finding!.message, /VNC on 198\.18\.0\.1/);
  assert.match(finding!.message, /set display\.network on the destination, or make the console listen on type='network', 0\.0\.0\.0 or ::/);

  const refusal = await migrations.migrate(remoteRequest(VM)).then(
    () => assert.fail('Migrate accepted a guest whose console cannot listen on the destination'),
    (err: unknown) => err,
  );
  assert.ok(isFerryError(refusal, 'FAILED_PRECONDITION'), String(refusal));
  assert.equal(refusal.reason, 'MIGRATION_CHECK_FAILED');
  assert.match(refusal.message, /198\.18\.0\.1/);
  assert.deepEqual(
    refusal.details.violations?.map((v) => v.type),
    ['MIGRATION_CHECK_REASON_GRAPHICS_LISTEN_ADDRESS'],
  );
  assert.deepEqual(peers.prepared, [], 'nothing was prepared');
  assert.deepEqual(pinholes.open_, []);
  assert.deepEqual(source.plans, [], 'libvirt was never asked');
  assert.deepEqual(migrations.list(false), [], 'no job');
});

test('with a display network on the destination the plan moves the consoles to its address; the pinhole and the rest as usual', async () => {
  const { migrations, source, peers } = hosts([vnc(SOURCE_MGMT), spice(SOURCE_MGMT), vnc('0.0.0.0')], { cidr: '198.18.0.0/24' });
  const report = await migrations.check(remoteRequest(VM));
  assert.deepEqual(report.blocking, []);
  assert.deepEqual(report.warnings, []);
  const { jobId } = await migrations.migrate(remoteRequest(VM));
  await until('perform', () => source.isMigrating(VM));
  const [plan] = source.plans;
  assert.deepEqual(plan!.display, { address: '198.18.0.2', replace: [SOURCE_MGMT] });
  assert.equal(plan!.migrateUri, 'tcp://198.19.0.2:49152', 'the migration itself stays on the migration network');
  assert.equal(source.consoleReads, 2, "one reading per call (CheckMigration's, Migrate's checks): prepare reuses the checks'");
  source.complete(VM);
  assert.equal((await finalOf(migrations, jobId)).phase, 'completed');
  assert.equal(peers.prepared.length, 1);
});

test('consoles that need nothing, or listen on an address that is not the source, migrate as they are (the latter with a warning)', async () => {
  const plain = hosts([vnc('0.0.0.0'), spice('127.0.0.1')], null);
  assert.deepEqual((await plain.migrations.check(remoteRequest(VM))).warnings, []);
  const started = await plain.migrations.migrate(remoteRequest(VM));
  await until('perform', () => plain.source.isMigrating(VM));
  assert.equal(plain.source.plans[0]!.display, undefined);
  plain.source.complete(VM);
  await finalOf(plain.migrations, started.jobId);

  const foreign = hosts([vnc('203.0.113.7')], { cidr: '198.18.0.0/24' });
  const report = await foreign.migrations.check(remoteRequest(VM));
  assert.equal(report.ok, true);
  assert.deepEqual(
    report.warnings.map((f) => `${f.side} ${f.reason}`),
    ['source GRAPHICS_LISTEN_ADDRESS'],
  );
  assert.match(report.warnings[0]!.message, /203\.0\.113\.7, which is not an address of the source host: it migrates unchanged/);
  const job = await foreign.migrations.migrate(remoteRequest(VM));
  await until('perform', () => foreign.source.isMigrating(VM));
  assert.equal(foreign.source.plans[0]!.display, undefined, 'the definition migrates unchanged');
  foreign.source.complete(VM);
  await finalOf(foreign.migrations, job.jobId);
});

test('a destination whose display network has no address here: CheckIncoming warns why, and the guest is refused as without one', async () => {
  const { migrations } = hosts([vnc(SOURCE_MGMT)], { cidr: '198.17.0.0/24' });
  const report = await migrations.check(remoteRequest(VM));
  assert.deepEqual(
    report.blocking.map((f) => `${f.side} ${f.reason}`),
    ['destination GRAPHICS_LISTEN_ADDRESS'],
  );
  assert.deepEqual(
    report.warnings.map((f) => `${f.side} ${f.reason} ${f.message}`),
    [
      'destination GRAPHICS_LISTEN_ADDRESS this host has no address in display.network 198.17.0.0/24: guests whose console listens on an address of their source cannot migrate here',
    ],
  );
});

test('a display network removed between the checks and PrepareIncoming: the job fails in prepare, before libvirt, and the destination closes its hole', async () => {
  const { migrations, source, peers, pinholes, setting } = hosts([vnc(SOURCE_MGMT)], { cidr: '198.18.0.0/24' });
  // The checks see the display address; the destination loses it (a reload) before it prepares.
  const original = peers.checkIncoming.bind(peers);
  peers.checkIncoming = async (dst, args) => {
    const answer = await original(dst, args);
    setting.display = null;
    return answer;
  };
  const refusal = await migrations.migrate(remoteRequest(VM)).then(
    () => assert.fail('accepted'),
    (err: unknown) => err,
  );
  assert.ok(isFerryError(refusal, 'FAILED_PRECONDITION'), String(refusal));
  assert.match(refusal.message, /VNC on 198\.18\.0\.1.*set display\.network on the destination/);
  assert.deepEqual(source.plans, [], 'libvirt was never asked');
  assert.deepEqual(
    peers.finished.map((f) => f.success),
    [false],
    'the destination was told',
  );
  assert.equal(peers.prepared.length, 1, 'the destination had prepared');
  assert.deepEqual(pinholes.open_, [], 'and closed its hole again');
});

test("PrepareIncoming and CheckIncoming answer the destination's display address as the configuration in force says", async () => {
  const setting: { display: DisplayNetwork | null } = { display: { interface: 'eth0' } };
  const destination = incomingMigrations({
    network: new FakeNetwork([DESTINATION_MGMT, MIGRATION_NIC]),
    displayNetwork: () => setting.display,
  });
  const args: PrepareIncomingArgs = {
    vmId: VM,
    jobId: 'job-1',
    sourceHost: 'lab1',
    sourceMigrationAddress: '198.19.0.1',
    dstqemu: '198.19.0.2',
    migrationNetwork: '',
    copyStorage: false,
    memoryBytes: 256 << 20,
  };
  assert.equal((await destination.prepare(args)).displayAddress, '198.18.0.2');
  setting.display = null;
  assert.equal((await destination.prepare({ ...args, jobId: 'job-2' })).displayAddress, '', 'a reload applies to the next prepare');
  setting.display = { cidr: '198.18.0.0/24' };
  const answer = await destination.check(await sentCheckArgs());
  assert.equal(answer.displayAddress, '198.18.0.2');
  assert.deepEqual(
    answer.warnings.filter((f) => f.reason === 'GRAPHICS_LISTEN_ADDRESS'),
    [],
  );
});

/** CheckIncoming's arguments as a source sends them for a plain guest. */
async function sentCheckArgs(): Promise<IncomingCheckArgs> {
  const source = new FakeHypervisor();
  source.addVm(VM);
  const peers = new FakePeers();
  await outgoingMigrations({ hypervisor: source, peers }).check(remoteRequest(VM));
  return peers.checked[0]!;
}
