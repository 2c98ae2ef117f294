/**
 * The one deadline of a short libvirt call. The adapter owns it (the core
 * never adds its own): waiting for a reconnecting daemon and every libvirt
 * call the operation takes count against it, and a call held behind a
 * domain's job lock ("cannot acquire state change lock", ~30 s in libvirt's
 * qemu driver) is reported rather than waited on forever.
 */
import { FerryError } from '../../shared/errors.js';
import { translate } from './libvirt-errors.js';

/** Deadline of a short call when the adapter is given none (ferryd's own). */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

/** fn with libvirt's errors translated, or DEADLINE_EXCEEDED naming `what` once ms have passed, answered or not. */
export function boundedCall<T>(ms: number, what: string, subject: string, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new FerryError('DEADLINE_EXCEEDED', `libvirt did not answer within ${ms / 1000} s (${what}, ${subject})`, {
            reason: 'LIBVIRT_TIMEOUT',
          }),
        ),
      ms,
    );
  });
  return Promise.race([translate(fn, subject), expired]).finally(() => clearTimeout(timer));
}
