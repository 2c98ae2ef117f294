// The one request both sides of a pinhole speak: the migration core asks for
// it (agent/migration/ports/pinholes.ts, PinholeGate) and the firewall opens it
// (agent/firewall), neither knowing the other.

/** The hole the destination asks for, one per incoming migration. */
export interface PinholeRequest {
  /** The VM being migrated in; named in the rule's comment. */
  vmId: string;
  /** The migration job; named in the rule's comment. */
  jobId: string;
  /** The source host's migration-network address (the only peer let in). */
  source: string;
  /** This host's migration-network address that QEMU will listen on. */
  destination: string;
  /** Also allocate a second port (NBD disk mirroring) in the same hole. */
  disksPort?: boolean;
  /** How long the hole stays open for NEW connections; default from the firewall's options. */
  ttlMs?: number;
}
