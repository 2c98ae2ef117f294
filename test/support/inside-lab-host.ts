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
