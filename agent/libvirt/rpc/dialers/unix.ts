// Local libvirt daemon over its unix socket: what the agent uses in production.
// Monolithic libvirtd listens on /run/libvirt/libvirt-sock; hosts with split (modular) daemons
// expose the QEMU driver as /run/libvirt/virtqemud-sock, hence the path is configurable.

import { createConnection } from 'node:net';
import { DEFAULT_DIAL_TIMEOUT_MS, type Dialer } from './dialer.js';
import { awaitConnect } from './connect-socket.js';

export const DEFAULT_SOCKET_PATH = '/run/libvirt/libvirt-sock';
export const VIRTQEMUD_SOCKET_PATH = '/run/libvirt/virtqemud-sock';

export function unixDialer(path: string = DEFAULT_SOCKET_PATH, opts: { timeoutMs?: number } = {}): Dialer {
  return {
    address: `unix:${path}`,
    dial(signal?: AbortSignal) {
      const socket = createConnection({ path });
      return awaitConnect(socket, `unix:${path}`, { timeoutMs: opts.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS, ...(signal ? { signal } : {}) });
    },
  };
}
