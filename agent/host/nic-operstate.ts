/**
 * Follows one NIC's link state for the event hub: the kernel's operstate
 * (/sys/class/net/NIC/operstate, https://www.kernel.org/doc/Documentation/ABI/testing/sysfs-class-net)
 * read every interval. One small file read a second costs nothing next to a
 * netlink socket to keep, and a migration NIC seldom changes state.
 */
import { readFile } from 'node:fs/promises';
import { isUp } from './system-probe.js';

/** Calls back with the NIC's state at once and after every change; returns the stop. */
export function followNicOperstate(name: string, onChange: (up: boolean) => void, intervalMs = 1000, sysfs = '/sys/class/net'): () => void {
  let last: boolean | undefined;
  let stopped = false;
  const poll = async () => {
    const state = await readFile(`${sysfs}/${name}/operstate`, 'utf8').then(
      (text) => text.trim(),
      () => 'absent',
    );
    const up = isUp(state);
    if (stopped || up === last) return;
    last = up;
    onChange(up);
  };
  void poll();
  const timer = setInterval(() => void poll(), intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
