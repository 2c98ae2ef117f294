/**
 * The Firewall every backend shares: validation, port allocation, the record of
 * open holes, expiry timers (expiry-timers.ts), the chains' sync state
 * (chain-sync.ts) and the change queue. A backend only says how a hole is
 * written (RuleWriter, rule-writer.ts): the iptables writer issues
 * iptables-restore calls, the "none" writer writes nothing.
 *
 * Invariants:
 *  - validation happens before anything is reserved or written;
 *  - every change to the rules runs through one SerialQueue, so concurrent
 *    opens and closes cannot lose each other's rule; opens that wait there
 *    together are written together (one transaction where the backend can);
 *  - a hole's ports stay reserved for as long as its rule may still let the
 *    source in, i.e. until it is removed or its expiry has passed;
 *  - an incremental change that fails is retried as a full rewrite of the
 *    family's chain (kube-proxy's "fail toward a full resync").
 */
import { randomBytes } from 'node:crypto';
import { invalidArgument, errorMessage } from '../../shared/errors.js';
import { defaultLocalAddresses } from './addresses.js';
import { ChainSync } from './chain-sync.js';
import { validateOpenRequest, type ValidOpenRequest } from './open-request.js';
import { ExpiryTimers } from './expiry-timers.js';
import type { AdoptablePinhole, AddressFamily, Firewall, FirewallBackendName, Pinhole, PortRange, ReconcileReport } from './firewall.js';
import { DEFAULT_PORT_RANGE } from './firewall.js';
import type { PinholeRequest } from '../../shared/pinhole-request.js';
import { PortAllocator, type PortProbe } from './port-allocator.js';
import type { RuleWriter } from './rule-writer.js';
import { SerialQueue } from './serial-queue.js';

export interface FirewallLogger {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
}

export interface PinholeFirewallOptions {
  /** Default 49152-49215 (QEMU's migration range). */
  portRange?: PortRange;
  /** TTL when a request gives none. Default 30 s. */
  defaultTtlMs?: number;
  /** Longest TTL a request may ask for. Default 10 min. */
  maxTtlMs?: number;
  /** This host's addresses; a destination must be one of them. */
  localAddresses?: () => readonly string[];
  /** Is a port free on an address? Default: try to bind it. */
  probe?: PortProbe;
  /** Wall clock (epoch ms); the kernel's time match uses the same clock. */
  now?: () => number;
  logger?: FirewallLogger;
  /** Pinhole ids; default "ph-" + 12 random hex digits. */
  newId?: () => string;
}

interface WaitingOpen {
  req: ValidOpenRequest;
  id: string;
  ports: number[];
  resolve: (hole: Pinhole) => void;
  reject: (err: unknown) => void;
}

const SILENT: FirewallLogger = { info: () => undefined, warn: () => undefined };

export class PinholeFirewall implements Firewall {
  private readonly holes = new Map<string, Pinhole>();
  private readonly timers: ExpiryTimers;
  /** Which families' chains are known synced, and the full rewrite after a failed change. */
  private readonly chains: ChainSync;
  private readonly queue = new SerialQueue();
  /** Opens allocated and waiting for their write, taken together by the next queued write. */
  private waiting: WaitingOpen[] = [];
  private readonly allocator: PortAllocator;
  private readonly defaultTtlMs: number;
  private readonly maxTtlMs: number;
  private readonly localAddresses: () => readonly string[];
  private readonly now: () => number;
  private readonly log: FirewallLogger;
  private readonly newId: () => string;

  constructor(
    private readonly writer: RuleWriter,
    options: PinholeFirewallOptions = {},
  ) {
    this.allocator = new PortAllocator(options.portRange ?? DEFAULT_PORT_RANGE, options.probe);
    this.maxTtlMs = options.maxTtlMs ?? 600_000;
    this.defaultTtlMs = options.defaultTtlMs ?? 30_000;
    if (!(Number.isInteger(this.defaultTtlMs) && this.defaultTtlMs > 0 && this.defaultTtlMs <= this.maxTtlMs)) {
      throw invalidArgument('defaultTtlMs', `${this.defaultTtlMs} must be a whole number of ms between 1 and maxTtlMs (${this.maxTtlMs})`);
    }
    this.localAddresses = options.localAddresses ?? defaultLocalAddresses;
    this.now = options.now ?? Date.now;
    this.log = options.logger ?? SILENT;
    this.newId = options.newId ?? (() => `ph-${randomBytes(6).toString('hex')}`);
    this.timers = new ExpiryTimers(this.now);
    this.chains = new ChainSync(writer, this.now, this.log);
  }

  get backend(): FirewallBackendName {
    return this.writer.backend;
  }

  get portRange(): Readonly<PortRange> {
    return this.allocator.range;
  }

  async open(request: PinholeRequest): Promise<Pinhole> {
    const req = this.validate(request);
    const id = this.newId();
    const ports = await this.allocator.allocate(id, req.portCount, req.destination);
    try {
      return await new Promise<Pinhole>((resolve, reject) => {
        this.waiting.push({ req, id, ports, resolve, reject });
        // The first to wait queues the write; those that arrive before it runs join it.
        if (this.waiting.length === 1) void this.queue.run(() => this.openWaiting());
      });
    } catch (err) {
      this.allocator.release(id);
      throw err;
    }
  }

  /**
   * Write every open that is waiting: with a backend that can (RuleWriter.addMany),
   * each family's holes in one transaction, else one at a time.
   */
  private async openWaiting(): Promise<void> {
    const batch = this.waiting.splice(0);
    for (const family of new Set(batch.map((w) => w.req.family))) {
      const group = batch.filter((w) => w.req.family === family);
      const addMany = this.writer.addMany?.bind(this.writer);
      const rounds = addMany ? [group] : group.map((w) => [w]);
      for (const round of rounds) {
        try {
          await this.chains.ensureSynced(family, () => this.live(family));
          // Expiry counts from the moment the rule is written, not from the request:
          // time spent waiting in the queue must not eat the TTL.
          const now = this.now();
          const opened = round.map((w) => ({
            w,
            hole: Object.freeze({
              id: w.id,
              vmId: w.req.vmId,
              jobId: w.req.jobId,
              family: w.req.family,
              source: w.req.source,
              destination: w.req.destination,
              ports: Object.freeze([...w.ports]),
              expiresAt: Math.ceil((now + w.req.ttlMs) / 1000) * 1000,
            }),
          }));
          const holes = opened.map((o) => o.hole);
          const write = addMany && holes.length > 1 ? () => addMany(holes) : () => this.addEach(holes);
          await this.chains.apply(family, write, [...this.live(family), ...holes]);
          for (const { w, hole } of opened) {
            this.holes.set(hole.id, hole);
            this.arm(hole);
            this.log.info('pinhole opened', { ...hole });
            w.resolve(hole);
          }
        } catch (err) {
          for (const w of round) w.reject(err);
        }
      }
    }
  }

  private async addEach(holes: readonly Pinhole[]): Promise<void> {
    for (const hole of holes) await this.writer.add(hole);
  }

  close(id: string): Promise<boolean> {
    return this.queue.run(async () => {
      const hole = this.holes.get(id);
      if (!hole) return false;
      this.disarm(id);
      const rest = this.live(hole.family).filter((p) => p.id !== id);
      try {
        await this.chains.apply(hole.family, () => this.writer.remove(hole), rest);
      } catch (err) {
        if (this.now() < hole.expiresAt) {
          // The rule may still let the source in: keep the ports reserved and retry at expiry.
          this.arm(hole);
          throw err;
        }
        // Past its datestop the kernel ignores the rule; the next sync deletes it.
        this.log.warn('could not remove an expired pinhole rule; the next reconcile will', { id, error: String(err) });
      }
      this.forget(hole);
      this.log.info('pinhole closed', { id });
      return true;
    });
  }

  list(): Pinhole[] {
    return [...this.holes.values()].sort((a, b) => a.expiresAt - b.expiresAt || a.id.localeCompare(b.id));
  }

  reconcile(): Promise<ReconcileReport> {
    return this.queue.run(async () => {
      const now = this.now();
      const expired = new Set<string>();
      for (const hole of [...this.holes.values()]) {
        if (hole.expiresAt <= now) {
          expired.add(hole.id);
          this.disarm(hole.id);
          this.forget(hole);
        }
      }
      const report: ReconcileReport = {
        backend: this.backend,
        removedStale: 0,
        removedExpired: 0,
        restored: 0,
        jumpInstalled: false,
        changed: false,
      };
      for (const family of this.writer.families) {
        const outcome = await this.chains.sync(family, this.live(family), now);
        for (const id of outcome.expiredIds) expired.add(id);
        report.removedStale += outcome.staleIds.length + outcome.unknownRules;
        report.restored += outcome.restoredIds.length;
        report.jumpInstalled ||= outcome.jumpInstalled;
        report.changed ||= outcome.changed;
      }
      report.removedExpired = expired.size;
      this.log.info('firewall reconciled', { ...report });
      return report;
    });
  }

  adopt(holes: readonly AdoptablePinhole[]): void {
    const now = this.now();
    for (const h of holes) {
      if (this.holes.has(h.id) || h.expiresAt <= now) continue;
      let hole: Pinhole;
      try {
        const valid = this.validate({ vmId: h.vmId, jobId: h.jobId, source: h.source, destination: h.destination });
        hole = Object.freeze({
          ...h,
          family: valid.family,
          source: valid.source,
          destination: valid.destination,
          ports: Object.freeze([...h.ports]),
        });
        this.allocator.reserve(h.id, hole.ports);
      } catch (err) {
        this.log.warn('a recorded pinhole cannot be taken back; reconcile removes its rule', { id: h.id, error: errMessage(err) });
        continue;
      }
      this.holes.set(hole.id, hole);
      this.arm(hole);
      this.log.info('pinhole taken back after a restart', { ...hole });
    }
  }

  uninstall(): Promise<void> {
    return this.queue.run(async () => {
      this.timers.disarmAll();
      this.holes.clear();
      this.allocator.releaseAll();
      this.chains.clear();
      for (const family of this.writer.families) await this.writer.uninstall(family);
      this.log.info('firewall uninstalled');
    });
  }

  async hostWarnings(): Promise<string[]> {
    if (!this.writer.hostWarnings) return [];
    try {
      return await this.writer.hostWarnings();
    } catch (err) {
      return [`cannot check the host's firewall: ${errMessage(err)}`];
    }
  }

  dispose(): void {
    this.timers.disarmAll();
  }

  /** Ports reserved now (tests, benchmark). */
  reservedPorts(): number[] {
    return this.allocator.reserved();
  }

  freePorts(): number {
    return this.allocator.size - this.allocator.reserved().length;
  }

  private validate(r: PinholeRequest): ValidOpenRequest {
    return validateOpenRequest(r, {
      defaultTtlMs: this.defaultTtlMs,
      maxTtlMs: this.maxTtlMs,
      localAddresses: this.localAddresses(),
      families: this.writer.families,
    });
  }

  /** Holes of one family that the chain must hold (expired ones are left out). */
  private live(family: AddressFamily): Pinhole[] {
    const now = this.now();
    return [...this.holes.values()].filter((p) => p.family === family && p.expiresAt > now);
  }

  private arm(hole: Pinhole): void {
    this.timers.arm(hole, () => {
      this.close(hole.id).catch((err) => this.log.warn('closing an expired pinhole failed', { id: hole.id, error: String(err) }));
    });
  }

  private disarm(id: string): void {
    this.timers.disarm(id);
  }

  private forget(hole: Pinhole): void {
    this.holes.delete(hole.id);
    this.allocator.release(hole.id);
  }
}

function errMessage(err: unknown): string {
  return errorMessage(err);
}
