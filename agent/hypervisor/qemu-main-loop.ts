/**
 * Whether a destination QEMU can still take libvirt's `migrate-recover`.
 *
 * libvirt sends every monitor command in band, and QEMU runs an in-band
 * command "in the main thread with the BQL held" (QEMU's
 * docs/devel/qapi-code-gen.rst, on 'allow-oob'). In a paused post-copy a
 * thread that touches a page still on the source sleeps in the kernel's
 * userfaultfd until that page arrives, and the page can only arrive after the
 * recovery. When that thread holds the BQL as it faults, the main loop waits
 * for the lock forever, and so would `migrate-recover`. QEMU's postcopy
 * document warns of guest memory accessed "while holding a lock"
 * (docs/devel/migration/postcopy.rst), and TCG delivers interrupts under the
 * BQL (accel/tcg/cpu-exec.c, cpu_handle_interrupt), pushing onto a guest
 * stack that may still be on the source. `migrate-recover` may run out of
 * band for exactly this, but only on a monitor that enabled QMP's "oob"
 * capability, and libvirt's does not.
 *
 * This reads the kernel's view of QEMU's threads (proc(5): task/TID/comm,
 * wchan, stat): the main thread (TID = PID) asleep on a futex while another
 * thread sleeps in handle_userfault, the same in every sample.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ThreadSample {
  tid: number;
  /** The thread's name; QEMU names its threads with -name debug-threads=on (libvirt sets it): "CPU 0/TCG", "CPU 1/KVM". */
  name: string;
  /** One-letter state from task/TID/stat ('S' sleeping, 'D' uninterruptible…). */
  state: string;
  /** The kernel function the thread sleeps in ('0' when the kernel does not say). */
  wchan: string;
}

/** The blocked main loop in one sample, or undefined when it can take a monitor command. */
export function mainLoopBlocker(pid: number, threads: readonly ThreadSample[]): string | undefined {
  const main = threads.find((t) => t.tid === pid);
  if (!main || !/^[SD]$/.test(main.state) || !main.wchan.startsWith('futex')) return undefined;
  const faulting = threads.find((t) => t.tid !== pid && t.wchan === 'handle_userfault');
  if (!faulting) return undefined;
  return (
    `its QEMU (pid ${pid}) cannot take the recovery: the main loop waits for a lock while thread ` +
    `"${faulting.name}" (${faulting.tid}) waits for a page only the source has; libvirt would send ` +
    'migrate-recover through that main loop (in band), so the resume could never start'
  );
}

export interface BlockerProbe {
  /** /proc, or a fixture tree in tests. */
  procRoot?: string;
  samples?: number;
  intervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** The blocker if every sample shows it (a main loop waits for its lock briefly all the time), else undefined. */
export async function blockedMainLoop(pid: number, probe: BlockerProbe = {}): Promise<string | undefined> {
  const { procRoot = '/proc', samples = 3, intervalMs = 400 } = probe;
  const sleep = probe.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let blocker: string | undefined;
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(intervalMs);
    blocker = mainLoopBlocker(pid, await threadsOf(procRoot, pid));
    if (!blocker) return undefined;
  }
  return blocker;
}

/** The QEMU of a running domain of libvirt's system driver: libvirt keeps its PID in <runDir>/<name>.pid. */
export async function qemuPid(runDir: string, domainName: string): Promise<number | undefined> {
  const text = await readFile(join(runDir, `${domainName}.pid`), 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

async function threadsOf(procRoot: string, pid: number): Promise<ThreadSample[]> {
  const dir = join(procRoot, String(pid), 'task');
  const tids = await readdir(dir).catch(() => [] as string[]);
  const read = (tid: string, file: string) => readFile(join(dir, tid, file), 'utf8').catch(() => '');
  return Promise.all(
    tids.map(async (tid) => {
      const [name, stat, wchan] = await Promise.all([read(tid, 'comm'), read(tid, 'stat'), read(tid, 'wchan')]);
      // stat is "TID (comm) S …": the comm may hold spaces and parentheses, so the state follows the last ')'.
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return { tid: Number(tid), name: name.trim(), state, wchan: wchan.trim() };
    }),
  );
}
