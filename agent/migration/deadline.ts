/**
 * Every call the core makes to libvirt or to a peer gets a deadline: libvirt
 * calls can hang behind a domain's job lock (libvirt gives up after 30 s with
 * "cannot acquire state change lock", VIR_JOB_WAIT_TIME in
 * https://gitlab.com/libvirt/libvirt/-/blob/master/src/conf/virdomainjob.c),
 * and a job must report that rather than wait forever.
 */
import { FerryError } from '../../shared/errors.js';

export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new FerryError('DEADLINE_EXCEEDED', `${what} did not answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
