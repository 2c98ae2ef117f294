// libvirtd on the source going away mid-migration: restarted as
// systemd would (TERM: with a migration running it waits up to its own 30 s
// shutdown timeout) or killed and started again (a crash). The job ends
// FAILED naming the lost connection (or COMPLETED, had libvirt completed it),
// its vmState is the VM's real state once libvirt is back (never a paused VM
// the status does not mention), the agent reconnects by itself, no pinhole
// stays on the destination, and the same VM then migrates again.
// lab3 → lab4: lab1 → lab2 belongs to other fault tests.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { unary } from '../../shared/client.js';
import { createVm, destroyVm, ensureLab, LAB_SCRIPT, labExec, labHost } from '../support/lab.js';
import { until } from '../support/wait.js';
import { agent, closeAgents, domainState, pinholeRules, status, waitForStatus, watchToEnd } from '../support/ferry.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';

const run = promisify(execFile);
const SRC = 'lab3';
const DST = 'lab4';
const VM = 'e2e-libvirtd-restart';

/** `scripts/lab libvirtd start|stop|kill|restart HOST`. */
async function libvirtd(action: 'start' | 'kill' | 'restart', host: string): Promise<void> {
  await run(LAB_SCRIPT, ['libvirtd', action, host], { timeout: 120_000 });
}

before(async () => {
  await ensureLab(4);
});

afterEach(async () => {
  await libvirtd('start', SRC); // a no-op when it runs
  for (const host of [SRC, DST]) await destroyVm(host, VM);
});

after(() => closeAgents());

/** "running (migration canceled)", "paused (user)", …: who left the VM in its state. */
async function stateWithReason(host: string): Promise<string> {
  return (
    (await labExec(host, ['virsh', '-c', 'qemu:///system', 'domstate', '--reason', VM], { allowFail: true })).stdout.trim() || 'absent'
  );
}

/** A migration that lasts: a guest dirtying memory faster than the capped link copies it. */
async function startSlowMigration(extraPolicy: Record<string, unknown> = {}) {
  const { uuid } = await createVm(SRC, VM, { memMiB: 384, dirtyMbps: 40 });
  const accepted = await unary(agent(SRC).migration, 'Migrate', {
    vmId: uuid,
    dst: labHost(DST).mgmtIp,
    dstqemu: labHost(DST).migIp,
    policy: { maxBandwidthMibps: 8, ...extraPolicy },
  });
  await waitForStatus(SRC, accepted.jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING' && s.data !== null && s.data.processedBytes > 0);
  return { uuid, jobId: accepted.jobId };
}

for (const how of ['restart', 'kill'] as const) {
  const what = how === 'restart' ? 'restarted (TERM, then started)' : 'killed (KILL, then started)';
  test(`libvirtd on the source ${what} mid-migration: FAILED naming the lost connection, the real VM state, the agent reconnects, the VM migrates again`, async (t) => {
    const { uuid, jobId } = await startSlowMigration();
    const progress = watchToEnd(SRC, jobId);
    const started = Date.now();
    if (how === 'restart') {
      await libvirtd('restart', SRC);
    } else {
      await libvirtd('kill', SRC);
      await libvirtd('start', SRC);
    }
    const backAfter = Date.now() - started;
    const final = (await progress).at(-1)!;
    const endedAfter = Date.now() - started;
    t.diagnostic(
      `libvirtd back after ${backAfter} ms; job ${final.phase} after ${endedAfter} ms; vmState ${final.error?.vmState ?? '-'}; warnings: ${final.warnings.join(' | ')}`,
    );

    const onSource = await domainState(SRC, VM);
    const onDestination = await domainState(DST, VM);
    t.diagnostic(`${SRC}: ${await stateWithReason(SRC)}, ${DST}: ${onDestination}`);
    if (final.phase === 'MIGRATION_PHASE_COMPLETED') {
      assert.equal(onDestination, 'running');
    } else {
      assert.equal(final.phase, 'MIGRATION_PHASE_FAILED');
      assert.equal(final.error!.step, 'perform');
      assert.equal(final.error!.code, 'UNAVAILABLE');
      assert.match(final.error!.message, /lost the connection to libvirtd before it answered \(the daemon stopped, restarted or crashed\)/);
      // What the status says is what libvirt shows once it is back: a paused VM is never left unmentioned.
      assert.equal(final.error!.vmState, `VM_STATE_${onSource.toUpperCase()}`);
      assert.ok(['running', 'paused'].includes(onSource), onSource);
      assert.equal(onDestination, 'absent');
    }
    assert.equal([onSource, onDestination].filter((s) => s === 'running').length, 1, `${SRC}: ${onSource}, ${DST}: ${onDestination}`);
    assert.deepEqual(await pinholeRules(DST), []);

    // The agent reconnected by itself: it answers from libvirt again.
    assert.equal((await status(SRC, jobId)).phase, final.phase);
    const { vms } = await unary(agent(SRC).host, 'ListVms', {});
    assert.ok(
      vms.some((vm) => vm.id === uuid),
      `ListVms on ${SRC}: ${vms.map((vm) => vm.name).join(', ')}`,
    );
    if (final.phase === 'MIGRATION_PHASE_COMPLETED') return;

    // And the same VM migrates, this time fast enough to converge.
    const again = await unary(agent(SRC).migration, 'Migrate', {
      vmId: uuid,
      dst: labHost(DST).mgmtIp,
      dstqemu: labHost(DST).migIp,
      policy: { maxBandwidthMibps: 200, initialDowntime: protoTimeFromMs(1000) },
    });
    const second = (await watchToEnd(SRC, again.jobId)).at(-1)!;
    assert.equal(second.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(second.error));
    assert.equal(second.network, 'NETWORK_ROLE_MIGRATION');
    assert.equal(await domainState(DST, VM), 'running');
    assert.notEqual(await domainState(SRC, VM), 'running');
    assert.deepEqual(await pinholeRules(DST), []);
  });
}

// libvirt's own recovery resumes it on the lab ("running (migration canceled)"):
// it restores the state the guest had when the migration began. Ferry would
// resume it otherwise (the schedule paused it), and the status says running.
test('a guest the schedule paused when libvirtd died: running again once libvirtd is back, and the status says so', async (t) => {
  // SUSPEND after 1 s: with 384 MiB at 8 MiB/s, the copy still has most of a minute to go.
  const { jobId } = await startSlowMigration({ schedule: [{ afterElapsed: protoTimeFromMs(1000), action: 'CONVERGENCE_ACTION_SUSPEND' }] });
  const progress = watchToEnd(SRC, jobId);
  await until('the schedule to pause the guest', async () => (await domainState(SRC, VM)) === 'paused', {
    timeoutMs: 30_000,
    everyMs: 250,
  });
  await libvirtd('kill', SRC);
  await libvirtd('start', SRC);
  t.diagnostic(`once libvirtd is back: ${await stateWithReason(SRC)}`);
  const final = (await progress).at(-1)!;
  t.diagnostic(
    `job ${final.phase}; vmState ${final.error?.vmState ?? '-'}; warnings: ${final.warnings.join(' | ')}; now ${await stateWithReason(SRC)}`,
  );
  assert.equal(final.phase, 'MIGRATION_PHASE_FAILED');
  assert.match(final.error!.message, /lost the connection to libvirtd/);
  assert.equal(await domainState(SRC, VM), 'running');
  assert.equal(final.error!.vmState, 'VM_STATE_RUNNING');
  assert.equal(await domainState(DST, VM), 'absent');
  assert.deepEqual(await pinholeRules(DST), []);
});
