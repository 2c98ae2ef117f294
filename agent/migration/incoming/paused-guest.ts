/**
 * Whether a guest can be resumed here: a post-copy that broke leaves the
 * destination running on what it has (VIR_DOMAIN_RUNNING_POSTCOPY_FAILED,
 * https://libvirt.org/html/libvirt-libvirt-domain.html#virDomainRunningReason),
 * and only then may a new port and pinhole be given for it. A QEMU that can
 * no longer take the recovery (hypervisor/qemu-main-loop.ts) is refused too,
 * so that no resume hangs in libvirt holding the domain's job.
 */
import { FerryError, isFerryError } from '../../../shared/errors.js';
import type { Hypervisor, PostcopyState } from '../ports.js';

/** FAILED_PRECONDITION (POSTCOPY_NOT_RECOVERABLE) saying why, unless the VM runs here in post-copy failed. */
export async function checkPausedInPostcopy(
  hypervisor: Pick<Hypervisor, 'postcopyState' | 'recoveryBlocker'> | undefined,
  vmId: string,
): Promise<void> {
  const notRecoverable = (why: string) =>
    new FerryError('FAILED_PRECONDITION', `VM ${vmId} cannot be resumed on this host: ${why}`, {
      reason: 'POSTCOPY_NOT_RECOVERABLE',
      subject: `vm/${vmId}`,
    });
  if (!hypervisor) throw notRecoverable('this agent has no hypervisor to ask');
  let state: PostcopyState;
  try {
    state = await hypervisor.postcopyState(vmId);
  } catch (err) {
    if (isFerryError(err, 'NOT_FOUND')) throw notRecoverable('it does not run here (destroyed, or its QEMU died)');
    throw err;
  }
  if (state === 'none') throw notRecoverable('it is not in a post-copy migration here');
  if (state === 'active') throw notRecoverable('its post-copy is running, not failed: nothing to resume');
  const blocker = await hypervisor.recoveryBlocker(vmId);
  if (blocker) throw notRecoverable(blocker);
}
