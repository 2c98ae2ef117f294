/**
 * The firewall module's public shape: a destination host opens one short-lived
 * hole per incoming migration, for one source address only.
 *
 * Why it exists: while an incoming migration is prepared, the destination QEMU
 * listens on a TCP port with no authentication, so anything that can reach the
 * port can feed it a VM state. The migration port range is closed by default and
 * each migration gets exactly one pinhole
 *   source migration address -> destination migration address : port(s), NEW only,
 * that the kernel closes by itself at `expiresAt` even if the agent dies.
 *
 * Nothing here knows about gRPC or the migration core; errors are FerryError.
 * The request is shared/'s: the core asks for the same shape through its port.
 */
import { FerryError } from '../../shared/errors.js';
import type { PinholeRequest } from '../../shared/pinhole-request.js';

export type AddressFamily = 'ipv4' | 'ipv6';

/** The families a backend closes: both unless told (at least one, each ipv4 or ipv6). */
export function validFamilies(families: readonly AddressFamily[] = ['ipv4', 'ipv6']): readonly AddressFamily[] {
  if (families.length === 0 || families.some((f) => f !== 'ipv4' && f !== 'ipv6')) {
    throw new FerryError('INVALID_ARGUMENT', `families: ${JSON.stringify(families)} must list ipv4 and/or ipv6`, { field: 'families' });
  }
  return families;
}

/** Which backend enforces the holes: iptables rules, nftables set elements, or none (the operator's firewall). */
export type FirewallBackendName = 'iptables' | 'nftables' | 'none';

export interface PortRange {
  /** First port of the range, inclusive. */
  first: number;
  /** Last port of the range, inclusive. */
  last: number;
}

/** libvirt/QEMU's own default migration range; the jump from INPUT covers it. */
export const DEFAULT_PORT_RANGE: Readonly<PortRange> = Object.freeze({ first: 49152, last: 49215 });

export interface Pinhole {
  /** Opaque, unique id ("ph-" + hex); the handle for close(). */
  readonly id: string;
  readonly vmId: string;
  readonly jobId: string;
  readonly family: AddressFamily;
  /** Canonical text form (IPv6 compressed, lower case). */
  readonly source: string;
  readonly destination: string;
  /** [migration port] or [migration port, disks port]. */
  readonly ports: readonly number[];
  /**
   * Epoch milliseconds, always a whole second: from this instant the kernel no
   * longer matches the rule (`-m time --datestop` has one-second resolution and
   * is inclusive, so the rule carries datestop = expiresAt/1000 - 1).
   */
  readonly expiresAt: number;
}

/** A pinhole as another run recorded it: everything but the family, which follows from the addresses. */
export type AdoptablePinhole = Omit<Pinhole, 'family'>;

export interface ReconcileReport {
  backend: FirewallBackendName;
  /** Rules found in our chain that no live pinhole of this process owns. */
  removedStale: number;
  /** Pinholes (rules or records) whose expiry had passed. */
  removedExpired: number;
  /** Live pinholes whose rule was missing and was written again. */
  restored: number;
  /** iptables: the INPUT jump was missing (or wrong) and was (re)installed; nftables: the table was (re)created. */
  jumpInstalled: boolean;
  /** Whether anything was written at all (false = the firewall already matched). */
  changed: boolean;
}

export interface Firewall {
  readonly backend: FirewallBackendName;
  /**
   * Validate, allocate a free port (two with disksPort) and open the hole.
   * INVALID_ARGUMENT (nothing written) for bad addresses, ids or TTL;
   * RESOURCE_EXHAUSTED when no port of the range is free.
   */
  open(request: PinholeRequest): Promise<Pinhole>;
  /**
   * Ports of the range no hole holds now (a check before a migration: a
   * socket may still occupy one, which open() probes and skips).
   */
  freePorts(): number;
  /** Remove the hole now (connection established, job ended). false if unknown. */
  close(id: string): Promise<boolean>;
  /** The holes this process has open, soonest expiry first. */
  list(): Pinhole[];
  /**
   * Make the firewall match this process's state: install the chain and the
   * jump if missing, drop stale and expired rules, restore missing ones. Call at
   * start-up; safe to call any time.
   */
  reconcile(): Promise<ReconcileReport>;
  /**
   * Take back holes a previous run of the agent opened (from its journal),
   * before reconcile(): their rules are then kept instead of removed as
   * stale, their ports stay reserved, and close() and expiry work on them.
   * Expired or malformed ones are ignored (reconcile removes their rules).
   */
  adopt(holes: readonly AdoptablePinhole[]): void;
  /**
   * What the operator should know about the host's firewall (e.g. an input
   * chain of another table that drops the pinholes' connections), each with
   * what to do; empty when there is nothing to say.
   */
  hostWarnings(): Promise<string[]>;
  /** Remove the jump and the chain and forget every hole (installer --uninstall, tests). */
  uninstall(): Promise<void>;
  /**
   * Stop the expiry timers without touching the firewall: the kernel still
   * closes every hole at its datestop and the next start-up reconciles.
   */
  dispose(): void;
}
