// Shared plumbing for dialers: wait for 'connect' (or TLS 'secureConnect') with a timeout and an
// abort signal, and turn every failure into a ConnectionError that names the address and says
// what probably went wrong (ENOENT on a socket path = daemon not running / wrong socket).

import type { Socket } from 'node:net';
import { ConnectionError } from '../../errors.js';

const HINTS: Record<string, string> = {
  ENOENT: 'no such socket (is libvirtd/virtqemud running? split-daemon hosts use virtqemud-sock)',
  ECONNREFUSED: 'connection refused (is the libvirt daemon running and listening?)',
  EACCES: 'permission denied (need root or membership of the libvirt group)',
  ETIMEDOUT: 'connect timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

export function describeSocketError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const msg = err instanceof Error ? err.message : String(err);
  return code && HINTS[code] ? `${HINTS[code]} [${code}]` : msg;
}

export function awaitConnect(
  socket: Socket,
  address: string,
  opts: { timeoutMs: number; signal?: AbortSignal; readyEvent?: 'connect' | 'secureConnect' },
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const readyEvent = opts.readyEvent ?? 'connect';
    const fail = (err: ConnectionError): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error): void => fail(new ConnectionError(address, `cannot connect: ${describeSocketError(err)}`, { cause: err }));
    const onTimeout = (): void => fail(new ConnectionError(address, `cannot connect: no answer within ${opts.timeoutMs} ms`));
    const onAbort = (): void => fail(new ConnectionError(address, 'connect aborted', { cause: opts.signal?.reason }));
    const onReady = (): void => {
      cleanup();
      resolve(socket);
    };
    const timer = setTimeout(onTimeout, opts.timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off(readyEvent, onReady);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once(readyEvent, onReady);
  });
}
