// Domain handles and UUIDs. libvirt identifies a domain on the wire by remote_nonnull_domain
// {name, uuid (16 raw bytes), id}; callers think in UUID strings, so we convert at this edge.

import { XdrEncodeError } from './errors.js';
import type { RemoteNonnullDomain } from './generated/remote_protocol.gen.js';

/** A domain as returned by lookups. `id` is -1 when the domain isn't running. */
export interface Domain {
  readonly name: string;
  /** Canonical lower-case 8-4-4-4-12 form. */
  readonly uuid: string;
  readonly id: number;
}

const UUID_RE = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;

/** Parses "xxxxxxxx-xxxx-…" (dashes optional, any case) into 16 bytes. */
export function parseUuid(uuid: string): Buffer {
  if (typeof uuid !== 'string' || !UUID_RE.test(uuid.trim())) {
    throw new XdrEncodeError(`invalid UUID ${JSON.stringify(uuid)}: expected 32 hex digits as 8-4-4-4-12`);
  }
  return Buffer.from(uuid.trim().replace(/-/g, ''), 'hex');
}

export function formatUuid(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function domainFromWire(d: RemoteNonnullDomain): Domain {
  return { name: d.name, uuid: formatUuid(d.uuid), id: d.id };
}

export function domainToWire(d: Domain): RemoteNonnullDomain {
  if (!d || typeof d.name !== 'string') throw new XdrEncodeError('expected a Domain ({name, uuid, id}) from a lookup');
  return { name: d.name, uuid: parseUuid(d.uuid), id: d.id ?? -1 };
}
