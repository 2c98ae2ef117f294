// The guard of every test program that changes a firewall: it must be running
// inside a lab host, never in the machine's own namespace.
import { statSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Only ever touch the firewall of a lab host: its UTS namespace is named labN
 * and, where /run/netns is visible, our network namespace is that host's.
 */
export function insideLabHost(): boolean {
  const name = hostname();
  if (!/^lab\d+$/.test(name)) return false;
  try {
    return statSync(`/run/netns/${name}`).ino === statSync('/proc/self/ns/net').ino;
  } catch {
    return true; // the host's private /run hides /run/netns; the UTS name has to do
  }
}

/**
 * Or inside the throwaway network namespace a test made for itself (unshare
 * --net) and named: FERRY_PRIVATE_NETNS is that namespace's inode and
 * FERRY_PARENT_NETNS the test's own; ours must be the first and not the second.
 */
export function insidePrivateNetns(): boolean {
  const made = process.env.FERRY_PRIVATE_NETNS;
  const parent = process.env.FERRY_PARENT_NETNS;
  if (!made || !parent || made === parent) return false;
  try {
    const self = String(statSync('/proc/self/ns/net').ino);
    return self === made && self !== parent;
  } catch {
    return false;
  }
}
