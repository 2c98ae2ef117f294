// Post-copy recovery on the lab, lab1 → lab2: a dirtying guest switched to
// post-copy, its migration connection broken for real (link down and the
// sockets destroyed on both sides, or a reset from the destination alone),
// then the link back: the job goes POSTCOPY_PAUSED → RECOVERING → POSTCOPY →
// COMPLETED, the guest runs on the destination with every page it wrote
// (its dirtier checks them) and without a reboot, and the recovery pinhole
// admits the source only. Also: either agent SIGKILLed while paused, a manual
// RecoverMigration onto a second migration address, and the guest destroyed
// on the destination while paused (FAILED, nothing resumed or destroyed by Ferry).
import { test, before, after as afterAll, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import {
  agent,
  closeAgents,
  domainState,
  ferryd,
  pinholeRulesAfterJob,
  pinholesOn,
  restartLibvirtd,
  status,
  tryConnect,
  waitForStatus,
  watchToEnd,
} from '../support/ferry.js';
import { destroyVm, ensureLab, labExec, labHost, readConsole, virsh } from '../support/lab.js';
import {
  breakMigrationLink,
  guestUptimeS,
  killMigrationSockets,
  setMigrationLink,
  startPostcopyMigration,
} from '../support/postcopy-lab.js';
import { sleep, until } from '../support/wait.js';

const SRC = 'lab1';
const DST = 'lab2';
const THIRD = 'lab3';
const VM = 'pc-recover';
/** A second migration address of the destination, for RecoverMigration's dstqemu. */
const SECOND_ADDRESS = '198.19.0.12';

before(async () => {
  await ensureLab(3);
});

afterEach(async () => {
  await setMigrationLink(SRC, 'up');
  await labExec(DST, ['ip', 'addr', 'del', `${SECOND_ADDRESS}/24`, 'dev', 'eth1'], { allowFail: true });
  for (const host of [SRC, DST]) {
    // A libvirt call left hanging by a failed test holds the domain's lock: only a libvirtd restart frees it.
    await destroyVm(host, VM).catch(async () => {
      await restartLibvirtd(host);
      await destroyVm(host, VM);
    });
  }
});

afterAll(() => closeAgents());

/** Phases in order, without repeats. */
function phasesOf(seen: readonly MigrationProgress__Output[]): string[] {
  const phases: string[] = [];
  for (const s of seen) {
    const phase = s.phase.replace('MIGRATION_PHASE_', '');
    if (phases.at(-1) !== phase) phases.push(phase);
  }
  return phases;
}

/** The job's status once it ended, COMPLETED or FAILED. */
function endOf(jobId: string, timeoutMs: number): Promise<MigrationProgress__Output> {
  return waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_COMPLETED' || s.phase === 'MIGRATION_PHASE_FAILED', timeoutMs);
}

/** The guest runs on the destination with every page it wrote, its clock going on from where it was. */
async function assertGuestCarriedOn(uptimeBefore: number): Promise<void> {
  assert.equal(await domainState(DST, VM), 'running');
  assert.equal(await domainState(SRC, VM), 'absent');
  const later = await until(
    'the guest reports again on the destination',
    async () => {
      const t = await guestUptimeS(DST, VM);
      return t > uptimeBefore && t;
    },
    { timeoutMs: 60_000, everyMs: 1000 },
  );
  const console = await readConsole(DST, VM);
  assert.doesNotMatch(console, /CORRUPTION|Kernel panic|Oops|ferry-dirtier: started/, console.slice(-2000));
  assert.ok(later > uptimeBefore, `uptime ${later} s after ${uptimeBefore} s: no reboot`);
  assert.deepEqual(await pinholeRulesAfterJob(DST), [], 'no pinhole left');
}

test('link down and the migration sockets destroyed for 15 s in post-copy: paused, resumed once the link is back, completed; the recovery pinhole admits the source only', async () => {
  const { jobId } = await startPostcopyMigration(SRC, DST, VM);
  const seen = watchToEnd(SRC, jobId);
  const firstUri = (await status(SRC, jobId)).migrateUri;
  const uptimeBefore = await guestUptimeS(SRC, VM);
  await breakMigrationLink(SRC, DST);
  const paused = await waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_POSTCOPY_PAUSED', 30_000);
  assert.match(paused.recovery?.cause ?? '', /post-copy/);
  assert.match(await virsh(SRC, 'domstate', '--reason', VM), /paused \(post-copy failed\)/);
  assert.match(await virsh(DST, 'domstate', '--reason', VM), /running \(post-copy failed\)/);
  await sleep(15_000);
  assert.equal((await status(SRC, jobId)).phase, 'MIGRATION_PHASE_POSTCOPY_PAUSED', 'no attempt while the link is down');
  await setMigrationLink(SRC, 'up');
  const resumed = await waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_POSTCOPY' && (s.recovery?.resumed ?? 0) >= 1, 60_000);
  assert.notEqual(resumed.migrateUri, firstUri, 'a new port for the resume');
  const port = Number(/:(\d+)$/.exec(resumed.migrateUri)?.[1]);
  const holes = await pinholesOn(DST);
  const hole = holes.find((h) => h.ports.includes(port));
  assert.ok(hole, `a pinhole for port ${port}: ${JSON.stringify(holes)}`);
  assert.equal(hole.source, labHost(SRC).migIp);
  assert.notEqual(await tryConnect(THIRD, labHost(DST).migIp, port), 'connected', 'a third host cannot reach the recovery port');
  // The rest at full speed: the test is about the resume, not about a slow copy.
  await unary(agent(SRC).migration, 'ChangeMigrationParams', { job: { jobId }, maxBandwidthMibps: 1000 }).catch(() => undefined);
  const final = (await seen).at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.deepEqual(phasesOf(await seen).slice(-5), ['POSTCOPY', 'POSTCOPY_PAUSED', 'RECOVERING', 'POSTCOPY', 'COMPLETED']);
  await assertGuestCarriedOn(uptimeBefore);
});

test('a reset from the destination alone (link up): paused, then resumed at once', async () => {
  const { jobId } = await startPostcopyMigration(SRC, DST, VM, { maxBandwidthMibps: 16 });
  const seen = watchToEnd(SRC, jobId);
  const uptimeBefore = await guestUptimeS(SRC, VM);
  await killMigrationSockets(SRC, DST, [DST]);
  const final = (await seen).at(-1)!;
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.ok(
    phasesOf(await seen)
      .join(' ')
      .includes('POSTCOPY POSTCOPY_PAUSED RECOVERING POSTCOPY'),
    phasesOf(await seen).join(' '),
  );
  assert.equal(final.recovery?.resumed, 1);
  await assertGuestCarriedOn(uptimeBefore);
});

// TODO (issue 17, open): in 2 of 4 runs of these two cases on libvirt 9.0 / QEMU 7.2 the resume hung in
// libvirtd before it reached QEMU (the source's QEMU log has no "resuming migration", and QEMU cannot pause a
// recovery: "migrate-pause is currently only supported during postcopy-active state"). They run, and report,
// without failing the suite until that is understood.
const RESUME_HANG = 'a resume after an agent restart hung in libvirt in 2 of 4 runs: issue 17 stays open';

for (const killed of [SRC, DST]) {
  test(`${killed === SRC ? 'the source' : 'the destination'} agent SIGKILLed while paused and restarted: the job is picked up and resumed`, {
    todo: RESUME_HANG,
  }, async () => {
    const { jobId } = await startPostcopyMigration(SRC, DST, VM, { maxBandwidthMibps: 16 });
    const uptimeBefore = await guestUptimeS(SRC, VM);
    await breakMigrationLink(SRC, DST);
    await waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_POSTCOPY_PAUSED', 30_000);
    await ferryd('kill', killed);
    await ferryd('start', killed);
    await setMigrationLink(SRC, 'up');
    const final = await endOf(jobId, 90_000);
    assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
    assert.ok((final.recovery?.resumed ?? 0) >= 1);
    if (killed === SRC)
      assert.ok(
        final.warnings.some((w) => /restarted while the post-copy was paused/.test(w)),
        final.warnings.join('\n'),
      );
    await assertGuestCarriedOn(uptimeBefore);
  });
}

test('RecoverMigration by hand onto a second migration address of the destination', async () => {
  await labExec(DST, ['ip', 'addr', 'add', `${SECOND_ADDRESS}/24`, 'dev', 'eth1']);
  const { jobId } = await startPostcopyMigration(SRC, DST, VM, {
    maxBandwidthMibps: 16,
    postcopyRecoveryTimeout: protoTimeFromMs(0),
  });
  const uptimeBefore = await guestUptimeS(SRC, VM);
  await breakMigrationLink(SRC, DST);
  await waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_POSTCOPY_PAUSED', 30_000);
  await setMigrationLink(SRC, 'up');
  await sleep(3000);
  assert.equal((await status(SRC, jobId)).recovery?.attempts, 0, 'timeout 0: no attempt on its own');
  const { status: asked } = await unary(agent(SRC).migration, 'RecoverMigration', { job: { jobId }, dstqemu: SECOND_ADDRESS });
  assert.ok(asked);
  const final = await endOf(jobId, 90_000);
  assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
  assert.match(final.migrateUri, new RegExp(`^tcp://${SECOND_ADDRESS.replaceAll('.', '\\.')}:\\d+$`));
  await assertGuestCarriedOn(uptimeBefore);
});

test('the guest destroyed on the destination while paused: FAILED with the truth about both sides, the source left paused', async () => {
  const { jobId } = await startPostcopyMigration(SRC, DST, VM);
  await breakMigrationLink(SRC, DST);
  await waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_POSTCOPY_PAUSED', 30_000);
  await virsh(DST, 'destroy', VM);
  await setMigrationLink(SRC, 'up');
  const final = await endOf(jobId, 60_000);
  assert.equal(final.phase, 'MIGRATION_PHASE_FAILED');
  assert.equal(final.error?.step, 'recover');
  // libvirt keeps the destroyed guest's definition (PERSIST_DEST): shut off there, so not in a post-copy.
  assert.match(
    final.error?.message ?? '',
    /cannot be resumed on this host: it (does not run|is not in a post-copy migration) here.*VM is lost/s,
  );
  assert.match(
    await virsh(SRC, 'domstate', '--reason', VM),
    /paused \(post-copy failed\)/,
    'Ferry neither resumed nor destroyed the source',
  );
  assert.deepEqual(await pinholeRulesAfterJob(DST), [], 'no pinhole for a guest that is gone');
});
