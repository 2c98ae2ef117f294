// Post-copy recovery on the lab, lab1 → lab2: a dirtying guest switched to
// post-copy, its migration connection broken for real (link down and the
// sockets destroyed on both sides, or a reset from the destination alone),
// then the link back: the job goes POSTCOPY_PAUSED → RECOVERING → POSTCOPY →
// COMPLETED, the guest runs on the destination with every page it wrote
// (its dirtier checks them) and without a reboot, and the recovery pinhole
// admits the source only. Also: either agent SIGKILLed while paused, a manual
// RecoverMigration onto a second migration address, and the guest destroyed
// on the destination while paused (FAILED, nothing resumed or destroyed by Ferry).
import { test, before, after as afterAll, afterEach, type TestContext } from 'node:test';
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

// What Ferry does is asserted in each test; libvirt's resume itself then runs as a TODO subtest:
// on this lab (libvirt 9.0, QEMU 7.2, TCG guests) it hung in 1 of 4 to 2 of 4 runs inside the
// destination's libvirtd, before QEMU was told to recover (neither QEMU logs it), and such a resume
// cannot be interrupted ("migrate-pause is currently only supported during postcopy-active state").
// Issue 17 stays open until that is understood; the subtests report each run.
const RESUME_HANG = 'libvirt 9.0 / QEMU 7.2 resumes hang in some runs (issue 17 open)';

/** The recovery attempt has started: the destination answered PrepareRecovery with a new migrate URI. */
function resumeStarted(jobId: string, previousUri: string): Promise<MigrationProgress__Output> {
  return waitForStatus(
    SRC,
    jobId,
    (s) => (s.recovery?.attempts ?? 0) >= 1 && s.migrateUri !== previousUri && s.phase !== 'MIGRATION_PHASE_POSTCOPY_PAUSED',
    30_000,
  );
}

/** libvirt resumes, the job completes, and the guest carries on: a TODO subtest (RESUME_HANG). */
async function resumeCompletes(t: TestContext, jobId: string, uptimeBefore: number) {
  await t.test(
    'libvirt resumes it: COMPLETED, the guest runs on the destination with every page, no reboot',
    { todo: RESUME_HANG },
    async () => {
      // The rest at full speed: the test is about the resume, not about a slow copy.
      await unary(agent(SRC).migration, 'ChangeMigrationParams', { job: { jobId }, maxBandwidthMibps: 1000 }).catch(() => undefined);
      const final = await endOf(jobId, 60_000);
      assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
      assert.ok((final.recovery?.resumed ?? 0) >= 1);
      await assertGuestCarriedOn(uptimeBefore);
    },
  );
}

test('link down and the migration sockets destroyed for 15 s in post-copy: paused, no attempt while down, resumed once the link is back through a pinhole for the source only', async (t) => {
  const { jobId } = await startPostcopyMigration(SRC, DST, VM);
  const firstUri = (await status(SRC, jobId)).migrateUri;
  const uptimeBefore = await guestUptimeS(SRC, VM);
  await breakMigrationLink(SRC, DST);
  const paused = await waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_POSTCOPY_PAUSED', 30_000);
  assert.match(paused.recovery?.cause ?? '', /post-copy/);
  assert.ok(!paused.error, 'not failed');
  assert.match(await virsh(SRC, 'domstate', '--reason', VM), /paused \(post-copy failed\)/);
  assert.match(await virsh(DST, 'domstate', '--reason', VM), /running \(post-copy failed\)/);
  const { postcopyPaused } = await unary(agent(SRC).host, 'GetCapabilities', {});
  assert.deepEqual(
    postcopyPaused.map((j) => j.jobId),
    [jobId],
    'GetCapabilities lists the paused job',
  );
  await sleep(15_000);
  const still = await status(SRC, jobId);
  assert.equal(still.phase, 'MIGRATION_PHASE_POSTCOPY_PAUSED', 'no attempt while the link is down');
  assert.equal(still.recovery?.attempts, 0);
  await setMigrationLink(SRC, 'up');
  const linkUpAt = Date.now();
  const started = await resumeStarted(jobId, firstUri);
  assert.ok(Date.now() - linkUpAt < 5000, `RECOVERING ${Date.now() - linkUpAt} ms after the link came back`);
  const port = Number(/:(\d+)$/.exec(started.migrateUri)?.[1]);
  const holes = await pinholesOn(DST);
  const hole = holes.find((h) => h.ports.includes(port));
  assert.ok(hole, `a pinhole for the new port ${port}: ${JSON.stringify(holes)}`);
  assert.equal(hole.source, labHost(SRC).migIp);
  assert.equal(hole.destination, labHost(DST).migIp);
  assert.notEqual(await tryConnect(THIRD, labHost(DST).migIp, port), 'connected', 'a third host cannot reach the recovery port');
  await resumeCompletes(t, jobId, uptimeBefore);
});

test('a reset from the destination alone (link up): paused, then a resume starts at once', async (t) => {
  const { jobId } = await startPostcopyMigration(SRC, DST, VM, { maxBandwidthMibps: 16 });
  const firstUri = (await status(SRC, jobId)).migrateUri;
  const uptimeBefore = await guestUptimeS(SRC, VM);
  await killMigrationSockets(SRC, DST, [DST]);
  const started = await resumeStarted(jobId, firstUri);
  assert.match(started.recovery?.cause ?? '', /post-copy/);
  await resumeCompletes(t, jobId, uptimeBefore);
});

for (const killed of [SRC, DST]) {
  test(`${killed === SRC ? 'the source' : 'the destination'} agent SIGKILLed while paused and restarted: the job is picked up and a resume starts`, async (t) => {
    const { jobId } = await startPostcopyMigration(SRC, DST, VM, { maxBandwidthMibps: 16 });
    const firstUri = (await status(SRC, jobId)).migrateUri;
    const uptimeBefore = await guestUptimeS(SRC, VM);
    await breakMigrationLink(SRC, DST);
    await waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_POSTCOPY_PAUSED', 30_000);
    await ferryd('kill', killed);
    await ferryd('start', killed);
    assert.equal((await status(SRC, jobId)).phase, 'MIGRATION_PHASE_POSTCOPY_PAUSED', 'still paused after the restart');
    await setMigrationLink(SRC, 'up');
    const started = await resumeStarted(jobId, firstUri);
    if (killed === SRC)
      assert.ok(
        started.warnings.some((w) => /restarted while the post-copy was paused/.test(w)),
        started.warnings.join('\n'),
      );
    await resumeCompletes(t, jobId, uptimeBefore);
  });
}

test('RecoverMigration by hand onto a second migration address of the destination', async (t) => {
  await labExec(DST, ['ip', 'addr', 'add', `${SECOND_ADDRESS}/24`, 'dev', 'eth1']);
  const { jobId } = await startPostcopyMigration(SRC, DST, VM, {
    maxBandwidthMibps: 16,
    postcopyRecoveryTimeout: protoTimeFromMs(0),
  });
  const firstUri = (await status(SRC, jobId)).migrateUri;
  const uptimeBefore = await guestUptimeS(SRC, VM);
  await breakMigrationLink(SRC, DST);
  await waitForStatus(SRC, jobId, (s) => s.phase === 'MIGRATION_PHASE_POSTCOPY_PAUSED', 30_000);
  await setMigrationLink(SRC, 'up');
  await sleep(3000);
  assert.equal((await status(SRC, jobId)).recovery?.attempts, 0, 'timeout 0: no attempt on its own');
  const { status: asked } = await unary(agent(SRC).migration, 'RecoverMigration', { job: { jobId }, dstqemu: SECOND_ADDRESS });
  assert.ok(asked);
  const started = await resumeStarted(jobId, firstUri);
  assert.match(started.migrateUri, new RegExp(`^tcp://${SECOND_ADDRESS.replaceAll('.', '\\.')}:\\d+$`));
  const port = Number(/:(\d+)$/.exec(started.migrateUri)?.[1]);
  assert.ok(
    (await pinholesOn(DST)).some((h) => h.destination === SECOND_ADDRESS && h.ports.includes(port) && h.source === labHost(SRC).migIp),
  );
  await resumeCompletes(t, jobId, uptimeBefore);
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
