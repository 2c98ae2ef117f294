/**
 * PrepareRecovery: a post-copy of this job broke and the source resumes it.
 * The VM must run here in post-copy failed for this job, prepared by the
 * same source; the answer is a new port behind a new pinhole (the old hole is
 * closed), and the reservation lives on (its expiry renewed). Apart from
 * incoming-migrations.ts because it is not a new migration: no incoming
 * limit, no maintenance, no images, the guest already runs here.
 */
import { isFerryError } from '../../../shared/errors.js';
import type { Clock, HostNetwork, Hypervisor, IncomingOffer, Journal, PinholeGate, PrepareRecoveryArgs, TraceSpan } from '../ports.js';
import { chooseListenAddress } from './listen-address.js';
import { requireMigrationLinkUp } from './migration-link.js';
import { offerThrough, openPinhole } from './offer.js';
import { checkPausedInPostcopy } from './paused-guest.js';
import { checkOwner, type IncomingRecord, type Reservations } from './reservations.js';
import { checkSourceIdentity, type SourceIdentity } from './source-identity.js';

export interface PrepareRecoveryDeps {
  network: HostNetwork;
  pinholes: PinholeGate;
  dconnuri: string;
  pinholeTtlMs: number;
  reservationTtlMs: number;
  clock: Clock;
  journal?: Journal<IncomingRecord>;
  hypervisor?: Pick<Hypervisor, 'postcopyState' | 'recoveryBlocker'>;
}

export async function prepareRecovery(
  args: PrepareRecoveryArgs,
  caller: SourceIdentity | null,
  span: TraceSpan,
  deps: PrepareRecoveryDeps,
  reservations: Reservations,
): Promise<IncomingOffer> {
  if (caller) checkSourceIdentity(caller, args);
  const reservation = reservations.get(args.jobId);
  if (reservation) checkOwner(reservation, args, caller, 'resume');
  try {
    await checkPausedInPostcopy(deps.hypervisor, args.vmId);
  } catch (err) {
    // Nothing will connect to the old hole: closed now. Copied images stay: they may hold what the guest last wrote.
    if (reservation && isFerryError(err, 'FAILED_PRECONDITION')) await reservations.release(args.jobId);
    throw err;
  }
  const { address, network } = await chooseListenAddress(deps.network, args);
  await requireMigrationLinkUp(deps.network, { address, network });
  const pinhole = await openPinhole(deps, args, address, false, span);
  if (reservation) {
    reservation.cancelExpiry();
    await deps.pinholes.close(reservation.pinhole.id).catch(() => false);
  }
  // Without a reservation (it expired during a long pause): a new one, so that FinishIncoming closes this hole.
  const record: IncomingRecord = {
    jobId: args.jobId,
    vmId: args.vmId,
    preparedBy: reservation?.preparedBy ?? caller?.name ?? null,
    images: reservation?.images ?? [],
    pinhole: { ...pinhole, ports: [...pinhole.ports] },
    expiresAt: deps.clock.now() + deps.reservationTtlMs,
  };
  await deps.journal?.write(record.jobId, false, record).catch(() => undefined);
  reservations.hold(record);
  // The guest already runs here, its consoles where they were started: nothing to move.
  return offerThrough(pinhole, deps.dconnuri, network, args.jobId, '');
}
