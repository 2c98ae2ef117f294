/**
 * After a restart, before the firewall reconciles: the reservations a
 * previous run journaled, taken back while their migration may still need
 * them. Apart from incoming-migrations.ts because it runs once, from the
 * journal and libvirt's state, not from a source agent's call.
 */
import { FerryError } from '../../../shared/errors.js';
import type { Clock, Hypervisor, Journal, OpenedPinhole } from '../ports.js';
import { coldLeftovers } from './cold-incoming.js';
import type { IncomingRecord, Reservations } from './reservations.js';

export interface RestartReservationsDeps {
  clock: Clock;
  journal?: Journal<IncomingRecord>;
  hypervisor?: Pick<Hypervisor, 'jobStats' | 'postcopyState'>;
  /** Removes what a cold migration's transfer left (it ran in the process that died): its volumes are incomplete. */
  dropUnreceived?: (leftovers: { volumes: string[]; definitionPath: string }) => Promise<void>;
}

/**
 * Reservations come back while their migration may still need them — the
 * hole not yet expired (the source may not have connected yet), or the VM's
 * incoming migration still running here — so FinishIncoming still finds
 * them. The others are forgotten. Returns the holes to take back.
 */
export async function takeBackReservations(deps: RestartReservationsDeps, reservations: Reservations): Promise<OpenedPinhole[]> {
  const { journal } = deps;
  if (!journal) return [];
  const holes: OpenedPinhole[] = [];
  for (const { data: record } of journal.load()) {
    const leftovers = coldLeftovers(record);
    if (leftovers) {
      await deps.dropUnreceived?.(leftovers);
      await journal.remove(record.jobId).catch(() => undefined);
      continue;
    }
    const now = deps.clock.now();
    const holeOpen = record.pinhole.expiresAt > now;
    const vm = await incomingState(deps, record.vmId);
    // 'here' without a job: the migration is over (the source's FinishIncoming came while we were down).
    if (record.expiresAt > now && (vm === 'migrating' || (holeOpen && vm !== 'here'))) {
      reservations.hold(record);
      if (holeOpen) holes.push(record.pinhole);
    } else {
      await journal.remove(record.jobId).catch(() => undefined);
    }
  }
  return holes;
}

/** Whether the VM is migrating in, already runs here, or is not here (yet); 'unknown' when libvirt cannot tell. */
async function incomingState(deps: RestartReservationsDeps, vmId: string): Promise<'migrating' | 'here' | 'absent' | 'unknown'> {
  const { hypervisor } = deps;
  if (!hypervisor) return 'unknown';
  try {
    // A post-copy, running or paused, is a migration this host still takes part in.
    if ((await hypervisor.postcopyState(vmId)) !== 'none') return 'migrating';
    const stats = await hypervisor.jobStats(vmId);
    return stats.type === 'bounded' || stats.type === 'unbounded' ? 'migrating' : 'here';
  } catch (err) {
    return err instanceof FerryError && err.kind === 'NOT_FOUND' ? 'absent' : 'unknown';
  }
}
