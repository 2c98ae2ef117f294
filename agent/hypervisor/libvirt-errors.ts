/**
 * libvirt's errors in Ferry's terms: a FerryError of the most specific kind,
 * keeping libvirt's code and name for the status metadata.
 */
import { FerryError, type ErrorKind } from '../../shared/errors.js';
import {
  constants as c,
  isNoDomain,
  LibvirtError,
  ConnectionError,
  InterruptedError,
  ClosedError,
  CallTimeoutError,
} from '../libvirt/index.js';

/** Runs fn, turning libvirt's errors into FerryErrors that keep its code. */
export async function translate<T>(fn: () => Promise<T>, subject: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFerryError(err, subject);
  }
}

export function toFerryError(err: unknown, subject: string): unknown {
  if (err instanceof FerryError) return err;
  if (err instanceof LibvirtError) {
    const kind: ErrorKind = isNoDomain(err) ? 'NOT_FOUND' : kindOfLibvirtCode(err.code);
    const message = isNoDomain(err) ? `no VM ${subject} on this host (libvirt: ${err.message})` : `libvirt: ${err.message}`;
    const reason = isNoDomain(err) ? 'VM_NOT_FOUND' : 'LIBVIRT_ERROR';
    return new FerryError(kind, message, { reason, libvirtCode: err.code, libvirtName: err.codeName }, { cause: err });
  }
  if (err instanceof InterruptedError) {
    // The call was sent and its answer will never come: libvirtd stopped, restarted or crashed.
    return new FerryError(
      'UNAVAILABLE',
      `lost the connection to libvirtd before it answered (the daemon stopped, restarted or crashed): ${err.message}`,
      { reason: 'LIBVIRT_UNAVAILABLE' },
      { cause: err },
    );
  }
  if (err instanceof ConnectionError || err instanceof ClosedError) {
    return new FerryError('UNAVAILABLE', `libvirt is not reachable: ${err.message}`, { reason: 'LIBVIRT_UNAVAILABLE' }, { cause: err });
  }
  if (err instanceof CallTimeoutError) {
    return new FerryError('DEADLINE_EXCEEDED', `libvirt: ${err.message}`, { reason: 'LIBVIRT_TIMEOUT' }, { cause: err });
  }
  return err;
}

function kindOfLibvirtCode(code: number): ErrorKind {
  switch (code) {
    case c.VIR_ERR_OPERATION_INVALID:
      return 'FAILED_PRECONDITION';
    case c.VIR_ERR_OPERATION_ABORTED:
      return 'ABORTED';
    case c.VIR_ERR_OPERATION_TIMEOUT:
      return 'DEADLINE_EXCEEDED';
    case c.VIR_ERR_INVALID_ARG:
      return 'INVALID_ARGUMENT';
    case c.VIR_ERR_NO_SUPPORT:
    case c.VIR_ERR_ARGUMENT_UNSUPPORTED:
      return 'UNIMPLEMENTED';
    case c.VIR_ERR_SYSTEM_ERROR:
    case c.VIR_ERR_RPC:
      return 'UNAVAILABLE';
    default:
      return 'INTERNAL';
  }
}
