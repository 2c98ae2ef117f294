/**
 * Reading a fact for a check. A failure to read is a finding, never the
 * check's failure: a host whose libvirt does not answer cannot migrate
 * (blocking, said once), and anything else leaves that one check undone (a
 * warning that names it), so the answer still holds everything known.
 */
import { errorMessage, isFerryError } from '../../../shared/errors.js';
import type { Findings } from './findings.js';

export async function gather<T>(what: string, read: () => Promise<T>, out: Findings): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isFerryError(err) && (err.reason === 'LIBVIRT_UNAVAILABLE' || err.reason === 'LIBVIRT_TIMEOUT')) {
      if (!out.blocks('HYPERVISOR_UNAVAILABLE')) {
        out.block(
          'HYPERVISOR_UNAVAILABLE',
          `libvirt does not answer on the ${out.side} (${errorMessage(err)}): start libvirtd there, then retry`,
        );
      }
    } else {
      out.warn('CHECK_INCOMPLETE', `could not check ${what} on the ${out.side}: ${errorMessage(err)}`);
    }
    return undefined;
  }
}
