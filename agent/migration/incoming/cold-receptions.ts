/**
 * The cold migrations a destination receives: each one's reservation (the
 * volumes it created, its pinhole, whether every volume arrived) and its
 * transfer under way, from PrepareIncoming to FinishIncoming. Apart from
 * incoming-migrations.ts, which hands PrepareIncoming and FinishIncoming of
 * mode COLD here; what one reception does is cold-incoming.ts's.
 */
import { FerryError } from '../../../shared/errors.js';
import {
  NO_COLD_MIGRATION,
  type Clock,
  type ColdIncoming,
  type IncomingOffer,
  type Journal,
  type PinholeGate,
  type PrepareIncomingArgs,
  type TraceSpan,
} from '../ports.js';
import { inSpan } from '../tracing.js';
import { dropCold, placeCold, receiveCold, type ColdIncomingPorts } from './cold-incoming.js';
import { offerThrough, openPinhole } from './offer.js';
import type { IncomingRecord, Reservation, Reservations } from './reservations.js';

export interface ColdReceptionsOptions {
  pinholes: PinholeGate;
  pinholeTtlMs: number;
  reservationTtlMs: number;
  dconnuri: string;
  clock: Clock;
  journal?: Journal<IncomingRecord>;
  cold?: ColdIncomingPorts;
}

/** Where the offer is made: the listen address chosen, its network role, the display address. */
export interface OfferSite {
  address: string;
  network: IncomingOffer['network'];
  displayAddress: string;
}

export class ColdReceptions {
  /** Transfers under way, to stop one when the source gives up, or wait for its end when it succeeded. */
  private readonly transfers = new Map<string, { abort: () => void; received: Promise<boolean> }>();

  constructor(
    private readonly options: ColdReceptionsOptions,
    private readonly reservations: Reservations,
  ) {}

  /**
   * PrepareIncoming of a cold migration: the volumes placed and created, a
   * pinhole for the data channel, the wait for the source's connection. The
   * reservation lives until FinishIncoming (or expiry); a transfer that fails
   * here releases it at once, its volumes removed.
   */
  async reserve(
    args: PrepareIncomingArgs,
    cold: ColdIncoming,
    preparedBy: string | null,
    at: OfferSite,
    span: TraceSpan,
  ): Promise<IncomingOffer> {
    const ports = this.options.cold;
    if (!ports) {
      throw new FerryError('FAILED_PRECONDITION', `the destination: ${NO_COLD_MIGRATION}`, {
        field: 'mode',
        reason: 'HOST_FEATURE_MISSING',
      });
    }
    const placed = await inSpan(span.child('create volumes'), () => placeCold(args, cold, ports));
    const created = placed.placements.map((p) => p.path);
    const transfer = new AbortController();
    try {
      const pinhole = await openPinhole(this.options, args, at.address, false, span);
      const record: IncomingRecord = {
        jobId: args.jobId,
        vmId: args.vmId,
        preparedBy,
        images: created,
        cold: { received: false, definitionPath: placed.definitionPath },
        pinhole: { ...pinhole, ports: [...pinhole.ports] },
        expiresAt: this.options.clock.now() + this.options.reservationTtlMs,
      };
      const offer = offerThrough(pinhole, this.options.dconnuri, at.network, args.jobId, at.displayAddress);
      const arrival = { address: at.address, port: offer.port, arrivalTimeoutMs: this.options.pinholeTtlMs, signal: transfer.signal };
      const reception = await receiveCold(args, cold, placed, arrival, ports);
      offer.transfer = reception.transfer;
      await this.options.journal?.write(record.jobId, false, record).catch(() => undefined);
      this.reservations.hold(record);
      const received = reception.received.then((ok) => this.settled(args.jobId, ok));
      this.transfers.set(args.jobId, { abort: () => transfer.abort(), received });
      return offer;
    } catch (err) {
      transfer.abort();
      await dropCold(created, placed.definitionPath, ports);
      throw err;
    }
  }

  /**
   * FinishIncoming of a cold migration, its reservation already released: a
   * success waits for the transfer's end (the hibernation's definition file
   * is written then); a failure stops it and removes everything it created.
   */
  async finish(reservation: Reservation, success: boolean | undefined, span: TraceSpan): Promise<void> {
    const transfer = this.transfers.get(reservation.jobId);
    this.transfers.delete(reservation.jobId);
    if (success) await transfer?.received;
    else transfer?.abort();
    const ports = this.options.cold;
    if (success === false && ports) {
      await inSpan(span.child('remove volumes'), () =>
        dropCold(reservation.images, reservation.cold?.definitionPath ?? '', ports, reservation.vmId),
      );
    }
  }

  /** A transfer ended: verified volumes are journaled as such; a failed one has removed them, so its reservation goes. */
  private async settled(jobId: string, received: boolean): Promise<boolean> {
    if (!received) {
      await this.reservations.release(jobId);
      return false;
    }
    const held = this.reservations.get(jobId);
    if (held?.cold) {
      held.cold = { ...held.cold, received: true };
      const { cancelExpiry: _timer, ...journaled } = held;
      await this.options.journal?.write(jobId, false, journaled).catch(() => undefined);
    }
    return true;
  }
}
