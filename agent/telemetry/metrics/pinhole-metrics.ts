/**
 * Counts what happens to pinholes, as a PinholeGate in front of the
 * firewall's (the incoming core opens and closes holes through it): opened,
 * refused (the firewall would not open one: no free port, an address that
 * is not this host's…), closed before expiry (FinishIncoming, a
 * reservation's end) and expired (the firewall dropped it at its expiry
 * before anyone closed it: seen at the next open, close or scrape).
 */
import { Counter, type Registry } from 'prom-client';
import { isFerryError } from '../../../shared/errors.js';
import type { OpenedPinhole, PinholeGate } from '../../migration/index.js';
import type { PinholeRequest } from '../../../shared/pinhole-request.js';

/** The firewall as this needs it: the gate, and the holes it has open. */
export interface ListedPinholeGate extends PinholeGate {
  list(): readonly { id: string }[];
}

export class ObservedPinholes implements PinholeGate {
  /** Holes opened or adopted through this gate and not seen leaving yet: bounded by the holes open. */
  private readonly tracked = new Set<string>();
  private readonly opened: Counter;
  private readonly refused: Counter<'reason'>;
  private readonly closed: Counter;
  private readonly expired: Counter;

  constructor(
    private readonly gate: ListedPinholeGate,
    registry: Registry,
  ) {
    const registers = [registry];
    this.opened = new Counter({ name: 'ferry_pinholes_opened_total', help: 'Pinholes opened.', registers });
    this.refused = new Counter({
      name: 'ferry_pinholes_refused_total',
      help: 'Pinholes the firewall refused to open, by error kind (resource_exhausted: no free port in the range).',
      labelNames: ['reason'],
      registers,
    });
    // At 0 from the start, so the first refusal is an increase (Prometheus docs, instrumentation: "Avoid missing metrics").
    for (const reason of ['resource_exhausted', 'invalid_argument', 'failed_precondition', 'unavailable', 'internal'])
      this.refused.inc({ reason }, 0);
    this.closed = new Counter({ name: 'ferry_pinholes_closed_total', help: 'Pinholes closed before their expiry.', registers });
    this.expired = new Counter({
      name: 'ferry_pinholes_expired_total',
      help: 'Pinholes that reached their expiry before the agent closed them (the kernel stops matching them then).',
      registers,
    });
  }

  async open(request: PinholeRequest): Promise<OpenedPinhole> {
    this.sweep();
    try {
      const hole = await this.gate.open(request);
      this.tracked.add(hole.id);
      this.opened.inc();
      return hole;
    } catch (err) {
      this.refused.inc({ reason: isFerryError(err) ? err.kind.toLowerCase() : 'internal' });
      throw err;
    }
  }

  async close(id: string): Promise<boolean> {
    // Still open just before: a close that finds it gone was beaten by its expiry.
    const wasOpen = this.isOpen(id);
    const done = await this.gate.close(id);
    if (wasOpen && done && this.tracked.delete(id)) this.closed.inc();
    this.sweep();
    return done;
  }

  freePorts(): number {
    return this.gate.freePorts();
  }

  adopt(holes: readonly OpenedPinhole[]): void {
    this.gate.adopt(holes);
    for (const hole of holes) if (this.isOpen(hole.id)) this.tracked.add(hole.id);
  }

  /** The holes open now (for the gauge), counting the expiries since the last look. */
  openCount(): number {
    this.sweep();
    return this.gate.list().length;
  }

  private isOpen(id: string): boolean {
    return this.gate.list().some((h) => h.id === id);
  }

  private sweep(): void {
    const live = new Set(this.gate.list().map((h) => h.id));
    for (const id of this.tracked) {
      if (live.has(id)) continue;
      this.tracked.delete(id);
      this.expired.inc();
    }
  }
}
