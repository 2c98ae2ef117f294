// Maintenance on the lab: lab1 is emptied towards lab2 and lab3, and every
// claim is read back from libvirt on the hosts, not only from Ferry's answers.
// A drain with movable and unmovable VMs moves the first, leaves the others
// running where they were with each destination's reasons, and ends
// INCOMPLETE; a host in maintenance takes no incoming migration (checks,
// Migrate, PrepareIncoming) and opens nothing, until ExitMaintenance; an agent
// SIGKILLed mid-drain is still in maintenance once started again and finishes
// the drain, each VM on one destination exactly once; a destination that dies
// mid-drain fails its migration, and its VMs go to the other destination.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { unary, type FerryClients } from '../../shared/client.js';
import { clientCredentialsFromFiles } from '../../shared/credentials.js';
import type { Maintenance__Output } from '../../shared/generated/ferry/v1/Maintenance.js';
import type { MaintenanceVmState__Output } from '../../shared/generated/ferry/v1/MaintenanceVmState.js';
import { startCustomGuest } from '../support/custom-guest.js';
import {
  agent,
  agentAs,
  closeAgents,
  domainState,
  ferryd,
  hostTlsFiles,
  firewallSnapshot,
  pinholeRules,
  pinholeRulesAfterJob,
  status,
  waitForStatus,
  watchToEnd,
} from '../support/ferry.js';
import { HostWatch } from '../support/host-watch.js';
import { createVm, destroyVm, ensureLab, LAB_SCRIPT, labExec, labHost, setLabKvmHidden } from '../support/lab.js';
import {
  enterMaintenance,
  exitMaintenance,
  getMaintenance,
  labHostOf,
  MaintenanceWatch,
  runningGuests,
  runningOn,
  vmOf,
  vmStates,
  waitForDrainEnd,
} from '../support/maintenance.js';
import { startDirtyGuest } from '../support/policy-lab.js';
import { refusal } from '../support/refusal.js';
import { until } from '../support/wait.js';

const run = promisify(execFile);
const SRC = 'lab1';
const HOSTS = ['lab1', 'lab2', 'lab3'] as const;
/** Disk-less guests: cheap to start and to migrate (a few seconds each under TCG). */
const SMALL = { memMiB: 128 } as const;
/**
 * Guests whose migration lasts: half of their 256 MiB kept non-zero (the dirtier, rewriting it at
 * 1 MiB/s), copied at SLOW_POLICY's 16 MiB/s, about ten seconds each, and they converge.
 */
const SLOW = { memMiB: 256, dirtyMbps: 1 } as const;
const SLOW_POLICY = { maxBandwidthMibps: 16 } as const;
/** A bridge only lab1 has: a NIC on it makes a VM that no destination can take. */
const BRIDGE = 'maintbr0';
const MIXED = { move: ['maint-a-move1', 'maint-a-move2'], stuck: 'maint-a-stuck' } as const;
const INCOMING = 'maint-b-in';
const KILLED = ['maint-c-1', 'maint-c-2', 'maint-c-3', 'maint-c-4'];
const DYING = ['maint-d-1', 'maint-d-2', 'maint-d-3'];
const ALL_GUESTS = [...MIXED.move, MIXED.stuck, INCOMING, ...KILLED, ...DYING];
/** A VM no lab host has: PrepareIncoming's answer then depends on the host's maintenance alone. */
const NO_SUCH_VM = '00000000-0000-4000-8000-00000000d001';
const FINAL_JOB_PHASES = ['MIGRATION_PHASE_COMPLETED', 'MIGRATION_PHASE_FAILED', 'MIGRATION_PHASE_CANCELLED'];

const streams: Array<{ close(): void }> = [];
const clients: FerryClients[] = [];
const track = <T extends { close(): void }>(s: T): T => {
  streams.push(s);
  return s;
};

/** `scripts/lab libvirtd start|kill HOST` (start is a no-op when it runs). */
async function libvirtd(action: 'start' | 'kill', host: string): Promise<void> {
  await run(LAB_SCRIPT, ['libvirtd', action, host], { timeout: 120_000 });
}

/** Every daemon up, lab1 out of maintenance, no guest of this file anywhere. */
async function restoreLab(): Promise<void> {
  await libvirtd('start', 'lab3');
  for (const h of HOSTS) await ferryd('start', h);
  try {
    // cancel_migrations: a drain cut short by a failure must not go on moving guests.
    const left = await exitMaintenance(SRC, true);
    assert.equal(left.phase, 'MAINTENANCE_PHASE_OFF');
  } finally {
    for (const name of ALL_GUESTS) await destroyVm(SRC, name);
    for (const h of HOSTS) await labExec(h, ['ip', 'link', 'del', BRIDGE], { allowFail: true });
  }
}

before(async () => {
  await ensureLab(3);
  await setLabKvmHidden(3, []); // every host as the machine is: a guest's first destination must take it
  await restoreLab();
  // A drain moves every running guest: another test's would be moved (and counted) too.
  assert.deepEqual(await runningGuests(SRC), [], 'lab1 runs guests this file did not start');
});

afterEach(restoreLab);

after(() => {
  for (const s of streams) s.close();
  for (const c of clients) c.close();
  closeAgents();
});

const count = (m: Maintenance__Output, state: MaintenanceVmState__Output) => m.vms.filter((v) => v.state === state).length;

/** The findings of an attempt as "DESTINATION NETWORK_MISSING". */
const reasonsOf = (findings: ReadonlyArray<{ side: string; reason: string }>) =>
  findings.map((f) => `${f.side.replace('MIGRATION_CHECK_SIDE_', '')} ${f.reason.replace('MIGRATION_CHECK_REASON_', '')}`);

/** PrepareIncoming on lab1 as lab2's agent would call it (its own certificate, its own migration address). */
function prepareOnLab1FromLab2(vmId: string) {
  const lab2 = agentAs(SRC, clientCredentialsFromFiles(hostTlsFiles('lab2')));
  clients.push(lab2);
  return unary(lab2.peer, 'PrepareIncoming', {
    vmId,
    jobId: `maint-e2e-${Date.now()}`,
    sourceHost: 'lab2',
    sourceMigrationAddress: labHost('lab2').migIp,
    dstqemu: labHost(SRC).migIp,
    memoryBytes: SMALL.memMiB * 2 ** 20,
  });
}

/** libvirt's own view on the source: a migration job running for the guest. */
async function libvirtJobRunning(host: string, name: string): Promise<boolean> {
  const r = await labExec(host, ['virsh', '-c', 'qemu:///system', 'domjobinfo', name], { allowFail: true });
  return /Job type:\s+(Unbounded|Bounded)/.test(r.stdout);
}

/** Each VM of a drain that ended: MIGRATED, running on its reported destination and nowhere else, one completed job. */
async function assertEachOnOneDestination(end: Maintenance__Output, names: readonly string[], allowed: readonly string[]) {
  for (const name of names) {
    const vm = vmOf(end, name);
    assert.equal(vm.state, 'MAINTENANCE_VM_STATE_MIGRATED', vmStates(end));
    const dst = labHostOf(vm.destination);
    assert.ok(allowed.includes(dst), `${name} went to ${vm.destination}`);
    assert.deepEqual(await runningOn(name, HOSTS), [dst], `${name} runs on ${dst} alone, per libvirt`);
    const { jobs } = await unary(agent(SRC).migration, 'ListMigrations', { vmId: vm.vmId, pageSize: 100 });
    const completed = jobs.filter((j) => j.phase === 'MIGRATION_PHASE_COMPLETED');
    assert.deepEqual(
      completed.map((j) => j.jobId),
      [vm.jobId],
      `${name} was migrated once, by its drain job: ${jobs.map((j) => `${j.jobId} ${j.phase}`).join(', ')}`,
    );
  }
}

test('a drain with movable and unmovable VMs: the movable ones run on a destination, the others still here with every destination’s reasons; INCOMPLETE; ExitMaintenance → OFF', async () => {
  await labExec(SRC, ['sh', '-c', `ip link show ${BRIDGE} >/dev/null 2>&1 || ip link add ${BRIDGE} type bridge; ip link set ${BRIDGE} up`]);
  const moved = await Promise.all(MIXED.move.map((name) => createVm(SRC, name, SMALL)));
  const stuckUuid = await startCustomGuest(SRC, MIXED.stuck, {
    memMiB: SMALL.memMiB,
    devices: `<interface type='bridge'><mac address='52:54:00:4d:a1:01'/><source bridge='${BRIDGE}'/><model type='virtio'/><rom bar='off'/></interface>`,
  });
  const hostWatch = track(new HostWatch(SRC));
  await hostWatch.waitFor('a snapshot from lab1', (w) => w.messages[0]?.snapshot != null);
  assert.equal(hostWatch.messages[0]?.snapshot?.host?.maintenance, 'MAINTENANCE_PHASE_OFF');

  const entered = await enterMaintenance(SRC, ['lab2', 'lab3'], { maxParallel: 2 });
  const watch = track(new MaintenanceWatch(SRC));
  assert.equal(entered.phase, 'MAINTENANCE_PHASE_DRAINING');
  assert.ok(entered.enteredTime, 'entered_time set');
  assert.equal(entered.drainedTime, null);
  assert.equal(entered.maxParallel, 2);
  assert.deepEqual(
    entered.destinations.map((d) => labHostOf(d.host)),
    ['lab2', 'lab3'],
  );
  assert.deepEqual(
    entered.vms.map((v) => `${v.name} ${v.vmId} ${v.memoryBytes}`),
    [...moved, { name: MIXED.stuck, uuid: stuckUuid }].map((g) => `${g.name} ${g.uuid} ${SMALL.memMiB * 2 ** 20}`),
    'every running VM, sorted by name, with its memory',
  );
  // While it drains, the same request again answers the maintenance under way; another one is refused.
  const repeated = await enterMaintenance(SRC, ['lab2', 'lab3'], { maxParallel: 2 });
  assert.deepEqual(repeated.enteredTime, entered.enteredTime);
  assert.deepEqual(
    repeated.vms.map((v) => v.vmId),
    entered.vms.map((v) => v.vmId),
  );
  const other = await refusal(enterMaintenance(SRC, ['lab2'], { maxParallel: 2 }));
  assert.equal(other.kind, 'FAILED_PRECONDITION', other.message);
  assert.equal(other.reason, 'MAINTENANCE_IN_PROGRESS');

  await watch.waitForEnd(180_000);
  assert.equal(watch.messages[0]?.phase, 'MAINTENANCE_PHASE_DRAINING');
  assert.equal(watch.last()?.phase, 'MAINTENANCE_PHASE_INCOMPLETE');
  for (const name of MIXED.move) {
    const seen = watch.states(name);
    assert.deepEqual(
      seen,
      ['PENDING', 'MIGRATING', 'MIGRATED'].filter((s) => seen.includes(s)),
      `${name}: the stream went ${seen.join(' → ')}`,
    );
    assert.ok(seen.includes('MIGRATING') && seen.at(-1) === 'MIGRATED', `${name}: the stream went ${seen.join(' → ')}`);
  }
  assert.equal(watch.states(MIXED.stuck).at(-1), 'UNMOVABLE');
  assert.ok(
    watch.messages.every((m) => count(m, 'MAINTENANCE_VM_STATE_MIGRATING') <= 2),
    'never more than max_parallel migrations at once',
  );

  const end = await getMaintenance(SRC);
  assert.equal(end.phase, 'MAINTENANCE_PHASE_INCOMPLETE', vmStates(end));
  assert.ok(end.drainedTime, 'drained_time set');
  await assertEachOnOneDestination(end, MIXED.move, ['lab2', 'lab3']);
  for (const name of MIXED.move) {
    const vm = vmOf(end, name);
    assert.deepEqual(vm.attempts, [], `${name}: the first destination took it`);
    assert.notEqual(await domainState(SRC, name), 'running');
    assert.equal((await status(SRC, vm.jobId)).vmId, vm.vmId);
  }

  const stuck = vmOf(end, MIXED.stuck);
  assert.equal(stuck.state, 'MAINTENANCE_VM_STATE_UNMOVABLE');
  assert.equal(stuck.jobId, '');
  const attempts = [...stuck.attempts].sort((a, b) => labHostOf(a.destination).localeCompare(labHostOf(b.destination)));
  assert.deepEqual(
    attempts.map((a) => `${labHostOf(a.destination)}: ${reasonsOf(a.blocking).join(', ')} job=${a.jobId} error=${a.error !== null}`),
    ['lab2: DESTINATION NETWORK_MISSING job= error=false', 'lab3: DESTINATION NETWORK_MISSING job= error=false'],
    'each destination, with its reason; no migration was started',
  );
  for (const a of attempts) assert.match(a.blocking[0]?.message ?? '', new RegExp(`bridge ${BRIDGE}`));
  assert.deepEqual(await runningOn(MIXED.stuck, HOSTS), [SRC], 'the unmovable VM still runs on lab1, per libvirt');

  assert.equal((await unary(agent(SRC).host, 'GetCapabilities', {})).maintenance, 'MAINTENANCE_PHASE_INCOMPLETE');
  const hostPhases = () => hostWatch.messages.filter((m) => m.host).map((m) => m.host?.maintenance.replace('MAINTENANCE_PHASE_', ''));
  await hostWatch.waitFor('WatchHost to report INCOMPLETE', () => hostPhases().includes('INCOMPLETE'), 10_000);
  assert.ok(
    hostPhases().indexOf('DRAINING') >= 0 && hostPhases().indexOf('DRAINING') < hostPhases().indexOf('INCOMPLETE'),
    hostPhases().join(', '),
  );

  const exited = await exitMaintenance(SRC);
  assert.equal(exited.phase, 'MAINTENANCE_PHASE_OFF');
  assert.deepEqual(
    exited.vms.map((v) => `${v.name} ${v.state}`),
    end.vms.map((v) => `${v.name} ${v.state}`),
    'its VMs as they stood',
  );
  assert.equal((await getMaintenance(SRC)).phase, 'MAINTENANCE_PHASE_OFF');
  assert.equal((await unary(agent(SRC).host, 'GetCapabilities', {})).maintenance, 'MAINTENANCE_PHASE_OFF');
  await hostWatch.waitFor('WatchHost to report OFF', () => hostPhases().at(-1) === 'OFF', 10_000);
  // Leaving moves nothing back.
  for (const name of MIXED.move) assert.deepEqual(await runningOn(name, HOSTS), [labHostOf(vmOf(end, name).destination)]);
  assert.deepEqual(await runningOn(MIXED.stuck, HOSTS), [SRC]);
});

test('a host in maintenance takes no incoming migration: CheckMigration and Migrate refuse it (DESTINATION_IN_MAINTENANCE), PrepareIncoming answers HOST_IN_MAINTENANCE, nothing opened; after ExitMaintenance it migrates', async () => {
  const vm = await createVm('lab2', INCOMING, SMALL);
  await enterMaintenance(SRC, ['lab3']);
  const drained = await waitForDrainEnd(SRC, 30_000);
  assert.equal(drained.phase, 'MAINTENANCE_PHASE_DRAINED', 'nothing to move: drained at once');
  assert.deepEqual(drained.vms, []);

  const migration = { vmId: vm.uuid, dst: labHost(SRC).mgmtIp, dstqemu: labHost(SRC).migIp };
  const facts = async () => ({
    firewall: await firewallSnapshot(SRC),
    incoming: (await unary(agent(SRC).host, 'GetStats', {})).incomingMigrations,
    jobs: (await unary(agent('lab2').migration, 'ListMigrations', { vmId: vm.uuid, pageSize: 100 })).jobs.length,
    where: await runningOn(INCOMING, HOSTS),
  });
  const beforeRefusals = await facts();
  assert.deepEqual(beforeRefusals.where, ['lab2']);

  const check = await unary(agent('lab2').migration, 'CheckMigration', { migration });
  assert.equal(check.ok, false);
  assert.deepEqual(reasonsOf(check.blocking), ['DESTINATION DESTINATION_IN_MAINTENANCE'], JSON.stringify(check.blocking));

  const migrate = await refusal(unary(agent('lab2').migration, 'Migrate', migration));
  assert.equal(migrate.kind, 'FAILED_PRECONDITION', migrate.message);
  assert.equal(migrate.reason, 'MIGRATION_CHECK_FAILED');
  assert.deepEqual(
    migrate.details.violations?.map((v) => `${v.subject} ${v.type}`),
    ['destination MIGRATION_CHECK_REASON_DESTINATION_IN_MAINTENANCE'],
  );

  const prepare = await refusal(prepareOnLab1FromLab2(vm.uuid));
  assert.equal(prepare.kind, 'FAILED_PRECONDITION', prepare.message);
  assert.equal(prepare.reason, 'HOST_IN_MAINTENANCE');

  assert.deepEqual(await facts(), beforeRefusals, 'no job, no reservation, no firewall change; the VM where it was');
  assert.deepEqual(await pinholeRules(SRC), []);

  assert.equal((await exitMaintenance(SRC)).phase, 'MAINTENANCE_PHASE_OFF');
  const accepted = await unary(agent('lab2').migration, 'Migrate', migration);
  const final = (await watchToEnd('lab2', accepted.jobId)).at(-1);
  assert.equal(final?.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final?.error));
  assert.deepEqual(await runningOn(INCOMING, HOSTS), [SRC]);
  assert.deepEqual(await pinholeRulesAfterJob(SRC), []);
});

test('SIGKILL of the agent mid-drain: started again, it is still in maintenance and finishes the drain; each VM runs on one destination, migrated once', async () => {
  await Promise.all(KILLED.map((name) => startDirtyGuest(SRC, name, SLOW)));
  const entered = await enterMaintenance(SRC, ['lab2', 'lab3'], { maxParallel: 1, policy: SLOW_POLICY });
  assert.equal(entered.policy?.maxBandwidthMibps, SLOW_POLICY.maxBandwidthMibps);
  const watch = track(new MaintenanceWatch(SRC));
  // Mid-drain: one VM gone, the next one copying, two waiting.
  const mid = await watch.waitFor(
    'one VM migrated and the next one migrating',
    (m) => count(m, 'MAINTENANCE_VM_STATE_MIGRATED') === 1 && count(m, 'MAINTENANCE_VM_STATE_MIGRATING') === 1,
    240_000,
  );
  const done = mid.vms.find((v) => v.state === 'MAINTENANCE_VM_STATE_MIGRATED')!;
  const inFlight = mid.vms.find((v) => v.state === 'MAINTENANCE_VM_STATE_MIGRATING')!;
  assert.ok(inFlight.jobId && done.jobId, 'MIGRATING and MIGRATED VMs name their job');
  const copying = await waitForStatus(
    SRC,
    inFlight.jobId,
    (s) => s.phase === 'MIGRATION_PHASE_MIGRATING' && (s.data?.processedBytes ?? 0) > 0,
    60_000,
  );
  assert.equal(copying.policy?.maxBandwidthMibps, SLOW_POLICY.maxBandwidthMibps, "the drain's policy");
  assert.ok(
    watch.messages.every((m) => count(m, 'MAINTENANCE_VM_STATE_MIGRATING') <= 1),
    'max_parallel 1',
  );

  await ferryd('kill', SRC);
  assert.ok(await libvirtJobRunning(SRC, inFlight.name), 'libvirt carries on with the migration without the agent');
  await ferryd('start', SRC);

  const restarted = await getMaintenance(SRC);
  assert.equal(restarted.phase, 'MAINTENANCE_PHASE_DRAINING', vmStates(restarted));
  assert.deepEqual(restarted.enteredTime, entered.enteredTime, 'the same maintenance, from the journal');
  assert.deepEqual(
    restarted.vms.map((v) => v.name),
    KILLED,
  );
  const doneNow = vmOf(restarted, done.name);
  assert.deepEqual([doneNow.state, doneNow.jobId, doneNow.destination], [done.state, done.jobId, done.destination]);
  assert.notEqual((await unary(agent(SRC).host, 'GetCapabilities', {})).maintenance, 'MAINTENANCE_PHASE_OFF');
  const prepare = await refusal(prepareOnLab1FromLab2(NO_SUCH_VM));
  assert.equal(prepare.kind, 'FAILED_PRECONDITION', prepare.message);
  assert.equal(prepare.reason, 'HOST_IN_MAINTENANCE', 'still refusing incoming migrations');

  const resumed = track(new MaintenanceWatch(SRC));
  await resumed.waitForEnd(300_000);
  assert.ok(
    resumed.messages.every((m) => count(m, 'MAINTENANCE_VM_STATE_MIGRATING') <= 1),
    'max_parallel 1 after the restart too',
  );
  const end = await getMaintenance(SRC);
  assert.equal(end.phase, 'MAINTENANCE_PHASE_DRAINED', vmStates(end));
  await assertEachOnOneDestination(end, KILLED, ['lab2', 'lab3']);
  const reattached = vmOf(end, inFlight.name);
  assert.equal(reattached.jobId, inFlight.jobId, 'the migration under way at the kill was followed to its end, not started again');
  assert.deepEqual(reattached.attempts, []);
  assert.deepEqual(await runningGuests(SRC), []);
});

test('a destination dying mid-drain (lab3: libvirtd and ferryd killed): its migration fails, the VM keeps running on lab1, then every VM goes to lab2; DRAINED', async () => {
  await Promise.all(DYING.map((name) => startDirtyGuest(SRC, name, SLOW)));
  // The lab's hosts share one machine's memory, so both destinations report as much free memory:
  // lab3 is listed first, and with two lanes the drain spreads over both.
  await enterMaintenance(SRC, ['lab3', 'lab2'], { maxParallel: 2, policy: SLOW_POLICY });
  const watch = track(new MaintenanceWatch(SRC));
  const toLab3 = (m: Maintenance__Output) =>
    m.vms.find((v) => v.state === 'MAINTENANCE_VM_STATE_MIGRATING' && labHostOf(v.destination) === 'lab3');
  const seen = await watch.waitFor(
    'a migration to lab3',
    (m) => {
      if (toLab3(m)) return true;
      if (m.phase !== 'MAINTENANCE_PHASE_DRAINING') assert.fail(`the drain ended without sending a VM to lab3: ${vmStates(m)}`);
      return false;
    },
    240_000,
  );
  const victim = toLab3(seen)!;
  assert.ok(victim.jobId, 'a MIGRATING VM names its job');
  await waitForStatus(SRC, victim.jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING' && (s.data?.processedBytes ?? 0) > 0, 60_000);

  await libvirtd('kill', 'lab3');
  await ferryd('kill', 'lab3');
  const failed = await waitForStatus(SRC, victim.jobId, (s) => FINAL_JOB_PHASES.includes(s.phase), 120_000);
  assert.equal(failed.phase, 'MIGRATION_PHASE_FAILED', `the copy to lab3 ended ${failed.phase} before lab3 died`);
  assert.equal(await domainState(SRC, victim.name), 'running', 'the VM whose migration to lab3 failed still runs on lab1');

  const end = await waitForDrainEnd(SRC, 300_000);
  await watch.waitForEnd(10_000);
  assert.equal(end.phase, 'MAINTENANCE_PHASE_DRAINED', vmStates(end));
  const failure = vmOf(end, victim.name).attempts.find((a) => a.jobId === victim.jobId);
  assert.ok(failure, `the attempts of ${victim.name} list its job to lab3: ${JSON.stringify(vmOf(end, victim.name).attempts)}`);
  assert.equal(labHostOf(failure.destination), 'lab3');
  assert.ok(failure.error?.message, 'with the error of its migration');

  // lab3 back: libvirt finds the incoming QEMU of the failed migration and kills it, never resumes it.
  await libvirtd('start', 'lab3');
  await ferryd('start', 'lab3');
  await until(
    'lab3 to hold none of the guests',
    async () => (await Promise.all(DYING.map((name) => domainState('lab3', name)))).every((s) => s === 'absent' || s === 'shut off'),
    { timeoutMs: 60_000, everyMs: 500 },
  );
  await assertEachOnOneDestination(end, DYING, ['lab2']);
  assert.deepEqual(await runningGuests(SRC), []);
});
