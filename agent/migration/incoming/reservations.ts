/**
 * The reservations a destination holds: one per prepared migration, each
 * with its pinhole and its slot of the incoming limit, journaled so that a
 * restart finds the hole's owner. Released by FinishIncoming, or at expiry
 * when the source never comes back (the kernel closes the hole by itself;
 * this only forgets the reservation). Apart from incoming-migrations.ts
 * because PrepareIncoming, PrepareRecovery, FinishIncoming and the restart
 * all hold and release through it.
 */
import { FerryError, invalidArgument } from '../../../shared/errors.js';
import type { Clock, Journal, OpenedPinhole, PinholeGate } from '../ports.js';
import type { SourceIdentity } from './source-identity.js';

/** A reservation as the journal keeps it. */
export interface IncomingRecord {
  jobId: string;
  vmId: string;
  /** The certificate name of the agent that prepared it (null without TLS). */
  preparedBy: string | null;
  /** Images created for this migration (copy_storage), or the volumes of a cold migration. */
  images: string[];
  /**
   * Cold migration: whether every volume arrived verified (only then may a
   * restart keep them), and the hibernation definition file written here.
   */
  cold?: { received: boolean; definitionPath: string };
  pinhole: OpenedPinhole;
  /** When the reservation ends without FinishIncoming (epoch ms). */
  expiresAt: number;
}

export interface Reservation extends IncomingRecord {
  /** Cancels the expiry. */
  cancelExpiry: () => void;
}

export interface ReservationsDeps {
  clock: Clock;
  pinholes: PinholeGate;
  journal?: Journal<IncomingRecord>;
}

export class Reservations {
  private readonly reservations = new Map<string, Reservation>();

  constructor(private readonly deps: ReservationsDeps) {}

  get size(): number {
    return this.reservations.size;
  }

  get(jobId: string): Reservation | undefined {
    return this.reservations.get(jobId);
  }

  has(jobId: string): boolean {
    return this.reservations.has(jobId);
  }

  hold(record: IncomingRecord): void {
    const { clock } = this.deps;
    const cancelExpiry = clock.after(record.expiresAt - clock.now(), () => void this.release(record.jobId));
    this.reservations.set(record.jobId, { ...record, cancelExpiry });
  }

  /** Forget everything (shutdown); the kernel closes the holes at expiry. */
  dispose(): void {
    for (const r of this.reservations.values()) r.cancelExpiry();
    this.reservations.clear();
  }

  async release(jobId: string): Promise<boolean> {
    const reservation = this.reservations.get(jobId);
    if (!reservation) return false;
    this.reservations.delete(jobId);
    reservation.cancelExpiry();
    void this.deps.journal?.remove(jobId).catch(() => undefined);
    return this.deps.pinholes.close(reservation.pinhole.id);
  }
}

/** Only the agent that prepared a job may finish or resume it, and only for the VM it was prepared for. */
export function checkOwner(
  reservation: IncomingRecord,
  args: { jobId: string; vmId: string },
  caller: SourceIdentity | null,
  verb: 'finish' | 'resume',
): void {
  if (caller && reservation.preparedBy !== null && caller.name !== reservation.preparedBy) {
    throw new FerryError(
      'PERMISSION_DENIED',
      `job ${args.jobId} was prepared by ${reservation.preparedBy}; ${caller.name} may not ${verb} it`,
      { field: 'job_id', reason: 'PINHOLE_DENIED' },
    );
  }
  if (reservation.vmId !== args.vmId) {
    throw invalidArgument('vm_id', `job ${args.jobId} was prepared for VM ${reservation.vmId}, not ${args.vmId}`);
  }
}
