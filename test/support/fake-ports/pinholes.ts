// The PinholeGate port's stand-in: holes kept in memory.
import type { OpenedPinhole, PinholeGate, PinholeRequest } from '../../../agent/migration/ports.js';

export class FakePinholes implements PinholeGate {
  open_: string[] = [];
  private next = 49152;
  adopted: OpenedPinhole[] = [];
  /** Ports of the range held by no hole. */
  portsFree = 64;
  freePorts(): number {
    return this.portsFree;
  }
  async open(req: PinholeRequest): Promise<OpenedPinhole> {
    const ports = req.disksPort ? [this.next++, this.next++] : [this.next++];
    const id = `ph-${req.jobId}`;
    this.open_.push(id);
    return {
      id,
      vmId: req.vmId,
      jobId: req.jobId,
      source: req.source,
      destination: req.destination,
      ports,
      expiresAt: Date.now() + (req.ttlMs ?? 30_000),
    };
  }
  adopt(holes: readonly OpenedPinhole[]): void {
    for (const hole of holes) {
      this.adopted.push(hole);
      this.open_.push(hole.id);
    }
  }
  async close(id: string): Promise<boolean> {
    const i = this.open_.indexOf(id);
    if (i < 0) return false;
    this.open_.splice(i, 1);
    return true;
  }
}
