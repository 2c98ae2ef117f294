/**
 * The PinholeGate port: one firewall hole per incoming migration, and the
 * record of an opened hole that the destination journals.
 */
import type { PinholeRequest } from '../../../shared/pinhole-request.js';

export type { PinholeRequest };

/** A hole as opened: what the destination journals to take it back after a restart. */
export interface OpenedPinhole {
  id: string;
  vmId: string;
  jobId: string;
  source: string;
  destination: string;
  ports: readonly number[];
  expiresAt: number;
}

/** One hole per incoming migration (agent/firewall's Firewall satisfies this). */
export interface PinholeGate {
  open(request: PinholeRequest): Promise<OpenedPinhole>;
  /** Ports of the migration range no pinhole holds now. */
  freePorts(): number;
  close(id: string): Promise<boolean>;
  /**
   * After a restart, before the firewall reconciles: takes back holes a
   * previous run opened for jobs that still exist, so reconciling keeps
   * their rules (expired ones are dropped) and close() works on them.
   */
  adopt(holes: readonly OpenedPinhole[]): void;
}
