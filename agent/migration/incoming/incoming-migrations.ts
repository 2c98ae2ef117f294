/**
 * The destination side: PrepareIncoming and FinishIncoming. A prepared
 * migration holds one slot of the incoming limit and one pinhole; both are
 * released by FinishIncoming, or by expiry when the source never comes back
 * (the kernel closes the hole by itself; this only forgets the reservation:
 * reservations.ts). With copy_storage it also creates the disk images libvirt
 * copies into; a failed migration removes them again, a successful one keeps
 * them (the guest runs on them). At expiry the outcome is unknown, so they
 * stay. PrepareRecovery is prepare-recovery.ts's; the reservations taken back
 * after a restart, restart-reservations.ts's.
 */
import { FerryError, invalidArgument } from '../../../shared/errors.js';
import { displayAddressOf, type DisplayNetwork } from './display-address.js';
import { chooseListenAddress } from './listen-address.js';
import { requireMigrationLinkUp } from './migration-link.js';
import { offerThrough, openPinhole } from './offer.js';
import { prepareRecovery } from './prepare-recovery.js';
import { checkOwner, type IncomingRecord, Reservations } from './reservations.js';
import { takeBackReservations } from './restart-reservations.js';
import type {
  Clock,
  DiskImages,
  HostNetwork,
  Hypervisor,
  IncomingCheckAnswer,
  IncomingCheckArgs,
  IncomingOffer,
  Journal,
  OpenedPinhole,
  PinholeGate,
  PrepareIncomingArgs,
  PrepareRecoveryArgs,
  Tracer,
  TraceSpan,
  TraceContext,
} from '../ports.js';
import { inSpan, noopTracer } from '../tracing.js';
import { checkIncoming, type IncomingCheckPorts } from './incoming-check.js';
import { dropCold, type ColdIncomingPorts } from './cold-incoming.js';
import { ColdReceptions } from './cold-receptions.js';
import { checkSourceIdentity, type SourceIdentity } from './source-identity.js';

export interface IncomingOptions {
  network: HostNetwork;
  pinholes: PinholeGate;
  /** This host's libvirt URI as the source's libvirtd must use it for P2P ('' = let the source decide). */
  dconnuri: string;
  /** How long the pinhole admits new connections. */
  pinholeTtlMs: number;
  /** How long a reservation lives without FinishIncoming (covers the whole migration). */
  reservationTtlMs: number;
  maxIncoming: () => number;
  clock: Clock;
  /** Creates the images of copied disks; without it copy_storage with disks is refused. */
  images?: DiskImages;
  /** Where reservations survive a restart (recover()); without it they live in memory only. */
  journal?: Journal<IncomingRecord>;
  /** Asked at recover() whether a VM's incoming migration still runs here, and by PrepareRecovery whether it is paused in post-copy. */
  hypervisor?: Pick<Hypervisor, 'jobStats' | 'postcopyState' | 'recoveryBlocker'>;
  /** What CheckIncoming reads of this host. */
  checks: IncomingCheckPorts;
  /** Whether the host is in maintenance (agent/maintenance): it then refuses every incoming migration. */
  inMaintenance?: () => boolean;
  /** display.network in force (a reload may change it): where consoles of arriving guests listen (default: none). */
  displayNetwork?: () => DisplayNetwork | null;
  /** Spans of PrepareIncoming, CheckIncoming, FinishIncoming and the pinhole, children of the source's (default: none). */
  tracer?: Tracer;
  /** Cold migrations' volumes and data channel (cold-incoming.ts); without them mode COLD is refused. */
  cold?: ColdIncomingPorts;
}

export type { IncomingRecord };

export class IncomingMigrations {
  private readonly reservations: Reservations;
  private readonly cold: ColdReceptions;
  /** Prepares in flight: they count against the limit before their first await. */
  private preparing = 0;

  constructor(private readonly options: IncomingOptions) {
    this.reservations = new Reservations(options);
    this.cold = new ColdReceptions(options, this.reservations);
  }

  get count(): number {
    return this.reservations.size + this.preparing;
  }

  /**
   * caller: the verified certificate of the calling agent; null only when the
   * agent runs without TLS (tls.insecure), where nobody is authenticated.
   */
  prepare(args: PrepareIncomingArgs, caller: SourceIdentity | null = null): Promise<IncomingOffer> {
    return inSpan(this.serverSpan('PrepareIncoming', args.trace, args), (span) => this.prepareTraced(args, caller, span));
  }

  private async prepareTraced(args: PrepareIncomingArgs, caller: SourceIdentity | null, span: TraceSpan): Promise<IncomingOffer> {
    // First, before anything is looked at or reserved: no pinhole for a
    // source the caller's certificate does not vouch for.
    if (caller) checkSourceIdentity(caller, args);
    if (this.options.inMaintenance?.()) {
      throw new FerryError('FAILED_PRECONDITION', 'host in maintenance: it takes no incoming migration until it leaves maintenance', {
        reason: 'HOST_IN_MAINTENANCE',
      });
    }
    if (this.reservations.has(args.jobId)) {
      throw new FerryError('ALREADY_EXISTS', `job ${args.jobId} is already prepared on this host`, {
        field: 'job_id',
        reason: 'JOB_ALREADY_PREPARED',
      });
    }
    if (this.count >= this.options.maxIncoming()) {
      throw new FerryError('RESOURCE_EXHAUSTED', `this host already receives ${this.count} migration(s), its incoming limit: retry later`, {
        reason: 'DESTINATION_BUSY',
      });
    }
    this.preparing++;
    try {
      return await this.reserve(args, caller?.name ?? null, span);
    } finally {
      this.preparing--;
    }
  }

  private async reserve(args: PrepareIncomingArgs, preparedBy: string | null, span: TraceSpan): Promise<IncomingOffer> {
    const [{ address, network }, display] = await Promise.all([
      chooseListenAddress(this.options.network, args),
      displayAddressOf(this.options.network, this.options.displayNetwork?.() ?? null),
    ]);
    await requireMigrationLinkUp(this.options.network, { address, network });
    if (args.cold) return this.cold.reserve(args, args.cold, preparedBy, { address, network, displayAddress: display.address }, span);
    const images = args.disks?.length ? await inSpan(span.child('create images'), () => this.createImages(args)) : [];
    let pinhole: OpenedPinhole;
    try {
      pinhole = await openPinhole(this.options, args, address, args.copyStorage, span);
    } catch (err) {
      if (images.length > 0) await this.options.images?.remove(images).catch(() => undefined);
      throw err;
    }
    const record: IncomingRecord = {
      jobId: args.jobId,
      vmId: args.vmId,
      preparedBy,
      images,
      pinhole: { ...pinhole, ports: [...pinhole.ports] },
      expiresAt: this.options.clock.now() + this.options.reservationTtlMs,
    };
    // Durable before the source is answered: a restart must find the hole's owner.
    // Held only after the write: until prepare() returns, `preparing` counts this
    // migration, and a held reservation would count it a second time.
    await this.options.journal?.write(record.jobId, false, record).catch(() => undefined);
    this.reservations.hold(record);
    return this.offerOf(args.jobId, pinhole, network, display.address);
  }

  private offerOf(jobId: string, pinhole: OpenedPinhole, network: IncomingOffer['network'], displayAddress: string): IncomingOffer {
    return offerThrough(pinhole, this.options.dconnuri, network, jobId, displayAddress);
  }

  /**
   * PrepareRecovery: a post-copy of this job broke and the source resumes
   * it. The VM must run here in post-copy failed for this job, prepared by
   * the same source; the answer is a new port behind a new pinhole (the old
   * hole is closed), and the reservation lives on (its expiry renewed).
   * Allowed in maintenance: the VM already runs here.
   */
  prepareRecovery(args: PrepareRecoveryArgs, caller: SourceIdentity | null = null): Promise<IncomingOffer> {
    return inSpan(this.serverSpan('PrepareRecovery', args.trace, args), (span) =>
      prepareRecovery(args, caller, span, this.options, this.reservations),
    );
  }

  /**
   * CheckIncoming: what would stop this host from receiving the VM, as
   * findings; nothing is reserved. INVALID_ARGUMENT only for a request
   * PrepareIncoming would refuse as such (a dstqemu that is not ours).
   */
  check(args: IncomingCheckArgs): Promise<IncomingCheckAnswer> {
    return inSpan(this.serverSpan('CheckIncoming', args.trace, { vmId: args.vmId }), () => this.checkUntraced(args));
  }

  private checkUntraced(args: IncomingCheckArgs): Promise<IncomingCheckAnswer> {
    return checkIncoming(args, {
      ...this.options.checks,
      network: this.options.network,
      displayNetwork: this.options.displayNetwork?.() ?? null,
      pinholes: this.options.pinholes,
      images: this.options.images,
      incoming: { count: this.count, limit: this.options.maxIncoming(), maintenance: this.options.inMaintenance?.() ?? false },
    });
  }

  /** Idempotent: true when a pinhole was open and is now closed. */
  finish(
    args: { jobId: string; vmId: string; success?: boolean; trace?: TraceContext },
    caller: SourceIdentity | null = null,
  ): Promise<boolean> {
    const span = this.serverSpan('FinishIncoming', args.trace, args);
    if (args.success !== undefined) span.setAttribute('ferry.success', args.success);
    return inSpan(span, (traced) => this.finishTraced(args, caller, traced));
  }

  private async finishTraced(
    args: { jobId: string; vmId: string; success?: boolean },
    caller: SourceIdentity | null,
    span: TraceSpan,
  ): Promise<boolean> {
    const reservation = this.reservations.get(args.jobId);
    if (!reservation) return false;
    checkOwner(reservation, args, caller, 'finish');
    const closed = await inSpan(span.child('pinhole close', { attributes: { 'ferry.pinhole.id': reservation.pinhole.id } }), () =>
      this.reservations.release(args.jobId),
    );
    if (reservation.cold) {
      await this.cold.finish(reservation, args.success, span);
      return closed;
    }
    // Only a failure the source reports: the images then hold a partial copy nobody runs on.
    if (args.success === false && reservation.images.length > 0) {
      const images = reservation.images;
      await inSpan(span.child('remove images'), async () => this.options.images?.remove(images));
    }
    return closed;
  }

  private async createImages(args: PrepareIncomingArgs): Promise<string[]> {
    const disks = args.disks ?? [];
    if (disks.length === 0) return [];
    if (!args.copyStorage) throw invalidArgument('disks', 'are given without copy_storage');
    if (!this.options.images) {
      throw new FerryError(
        'FAILED_PRECONDITION',
        'this host cannot create disk images for copy_storage (no storage adapter): migrate with copy_storage none',
        { field: 'copy_storage', reason: 'HOST_FEATURE_MISSING' },
      );
    }
    return this.options.images.create(disks);
  }

  /**
   * After a restart, before the firewall reconciles: reservations a previous
   * run journaled come back while their migration may still need them — the
   * hole not yet expired (the source may not have connected yet), or the
   * VM's incoming migration still running here — so FinishIncoming still
   * finds them. The others are forgotten. Returns the holes to take back.
   */
  recover(): Promise<OpenedPinhole[]> {
    const ports = this.options.cold;
    return takeBackReservations(
      {
        ...this.options,
        ...(ports ? { dropUnreceived: ({ volumes, definitionPath }) => dropCold(volumes, definitionPath, ports) } : {}),
      },
      this.reservations,
    );
  }

  /** A call from the source agent: its span is the parent. */
  private serverSpan(name: string, parent: TraceContext | undefined, ids: { vmId: string; jobId?: string }): TraceSpan {
    return (this.options.tracer ?? noopTracer).startSpan(name, {
      kind: 'server',
      parent,
      attributes: { 'ferry.vm_id': ids.vmId, ...(ids.jobId ? { 'ferry.job_id': ids.jobId } : {}) },
    });
  }

  /** Forget everything (shutdown); the kernel closes the holes at expiry. */
  dispose(): void {
    this.reservations.dispose();
  }
}
