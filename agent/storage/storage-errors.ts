/**
 * libvirt's storage errors in Ferry's terms: what the storage could not do
 * is FAILED_PRECONDITION with reason STORAGE_FAILED, libvirt's words and
 * code kept; a libvirtd that cannot be reached stays UNAVAILABLE (as the
 * Hypervisor adapter says it).
 */
import { FerryError, errorMessage } from '../../shared/errors.js';
import { toFerryError } from '../hypervisor/libvirt-errors.js';
import { constants as c, LibvirtError } from '../libvirt/index.js';

/** `what` says what was being done and to which path, e.g. "creating volume vda at /var/lib/…". */
export function storageFailure(err: unknown, what: string, field?: string): FerryError {
  if (err instanceof FerryError) return err;
  const where = field ? { field } : {};
  if (err instanceof LibvirtError) {
    return new FerryError(
      'FAILED_PRECONDITION',
      `${what}: libvirt: ${err.message}`,
      { ...where, reason: 'STORAGE_FAILED', libvirtCode: err.code, libvirtName: err.codeName },
      { cause: err },
    );
  }
  const translated = toFerryError(err, what);
  if (translated instanceof FerryError) return translated;
  return new FerryError('FAILED_PRECONDITION', `${what}: ${errorMessage(err)}`, { ...where, reason: 'STORAGE_FAILED' }, { cause: err });
}

/** libvirt has no volume at that path (or in that pool). */
export function isNoStorageVol(err: unknown): boolean {
  return err instanceof LibvirtError && err.code === c.VIR_ERR_NO_STORAGE_VOL;
}

export function isNoStoragePool(err: unknown): boolean {
  return err instanceof LibvirtError && err.code === c.VIR_ERR_NO_STORAGE_POOL;
}
