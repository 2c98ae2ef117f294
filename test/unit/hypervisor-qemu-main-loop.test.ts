// Whether a destination QEMU can still take libvirt's migrate-recover, read from
// a /proc tree: the shape captured on the lab when a resume hung (main thread
// waiting for QEMU's global lock, "CPU 0/TCG" asleep in handle_userfault after
// faulting while delivering an interrupt), and the shapes that must not be
// taken for it. Also the destination's refusal built on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockedMainLoop, mainLoopBlocker, qemuPid, type ThreadSample } from '../../agent/hypervisor/qemu-main-loop.js';
import { checkPausedInPostcopy } from '../../agent/migration/incoming/paused-guest.js';
import type { PostcopyState } from '../../agent/migration/index.js';
import { isFerryError } from '../../shared/errors.js';

const PID = 10784;

/** The threads of the hung destination QEMU as the lab showed them (comm, state, wchan). */
function hungThreads(): ThreadSample[] {
  return [
    { tid: PID, name: 'qemu-system-x86', state: 'S', wchan: 'futex_do_wait' },
    { tid: 10786, name: 'qemu-system-x86', state: 'S', wchan: 'futex_do_wait' }, // the RCU thread
    { tid: 10787, name: 'IO mon_iothread', state: 'S', wchan: 'poll_schedule_timeout.constprop.0' },
    { tid: 10788, name: 'CPU 0/TCG', state: 'S', wchan: 'handle_userfault' },
    { tid: 10791, name: 'fault-default', state: 'S', wchan: 'futex_do_wait' },
    { tid: 10792, name: 'postcopy/listen', state: 'S', wchan: 'futex_do_wait' },
  ];
}

function withThread(threads: ThreadSample[], tid: number, change: Partial<ThreadSample>): ThreadSample[] {
  return threads.map((t) => (t.tid === tid ? { ...t, ...change } : t));
}

test('a main loop waiting for a lock while a thread waits for a missing page blocks the recovery, naming the thread', () => {
  const why = mainLoopBlocker(PID, hungThreads());
  assert.match(why ?? '', /QEMU \(pid 10784\).*main loop waits for a lock.*"CPU 0\/TCG" \(10788\) waits for a page only the source has/);
});

test('the shapes that can take a monitor command are not blockers', () => {
  // KVM: a vCPU faults in KVM_RUN without QEMU's lock; the main loop polls.
  assert.equal(mainLoopBlocker(PID, withThread(hungThreads(), PID, { wchan: 'do_sys_poll' })), undefined);
  // Nothing waits for a page: the main loop's futex wait is a passing one.
  assert.equal(mainLoopBlocker(PID, withThread(hungThreads(), 10788, { wchan: 'futex_do_wait' })), undefined);
  // A running main thread, or one whose wchan the kernel does not give.
  assert.equal(mainLoopBlocker(PID, withThread(hungThreads(), PID, { state: 'R' })), undefined);
  assert.equal(mainLoopBlocker(PID, withThread(hungThreads(), PID, { wchan: '0' })), undefined);
  // Another process's threads (the main thread is not among them).
  assert.equal(mainLoopBlocker(4242, hungThreads()), undefined);
});

/** Writes threads as proc(5) lays them out under root/PID/task/TID. */
async function writeProc(root: string, threads: ThreadSample[]): Promise<void> {
  for (const t of threads) {
    const dir = join(root, String(PID), 'task', String(t.tid));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'comm'), `${t.name}\n`);
    // The comm in stat is in parentheses and may itself hold spaces and ')'.
    await writeFile(join(dir, 'stat'), `${t.tid} (${t.name}) ${t.state} 1 10784 10784 0 -1 4194624 0 0\n`);
    await writeFile(join(dir, 'wchan'), t.wchan);
  }
}

test('read from /proc: blocked in every sample is a blocker; a main loop that frees itself in between is not', async () => {
  const root = await mkdtemp(join(tmpdir(), 'ferry-proc-'));
  try {
    await writeProc(root, withThread(hungThreads(), 10788, { name: 'CPU 0) (TCG' }));
    let slept = 0;
    const sleep = async () => {
      slept++;
    };
    assert.match((await blockedMainLoop(PID, { procRoot: root, sleep })) ?? '', /"CPU 0\) \(TCG" \(10788\)/);
    assert.equal(slept, 2, 'three samples');

    const freed = async () => writeProc(root, withThread(hungThreads(), PID, { wchan: 'do_sys_poll' }));
    assert.equal(await blockedMainLoop(PID, { procRoot: root, sleep: freed }), undefined);
    assert.equal(await blockedMainLoop(999, { procRoot: root, sleep }), undefined, 'no such process');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("QEMU's PID comes from libvirt's <name>.pid; a missing or garbled file gives none", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-run-'));
  try {
    await writeFile(join(dir, 'web1.pid'), '10784');
    await writeFile(join(dir, 'bad.pid'), 'x\n');
    assert.equal(await qemuPid(dir, 'web1'), 10784);
    assert.equal(await qemuPid(dir, 'bad'), undefined);
    assert.equal(await qemuPid(dir, 'absent'), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the destination refuses a recovery its QEMU cannot take, with the reason; one it can take passes', async () => {
  const VM = '0c5e1f7a-2b3d-4e5f-8a9b-1c2d3e4f5a6b';
  let blocker: string | undefined = 'its QEMU (pid 1) cannot take the recovery: …';
  const hypervisor = {
    postcopyState: async (): Promise<PostcopyState> => 'failed',
    recoveryBlocker: async () => blocker,
  };
  await assert.rejects(
    checkPausedInPostcopy(hypervisor, VM),
    (e) =>
      isFerryError(e, 'FAILED_PRECONDITION') &&
      e.reason === 'POSTCOPY_NOT_RECOVERABLE' &&
      e.message === `VM ${VM} cannot be resumed on this host: its QEMU (pid 1) cannot take the recovery: …`,
  );
  blocker = undefined;
  await checkPausedInPostcopy(hypervisor, VM);
});
