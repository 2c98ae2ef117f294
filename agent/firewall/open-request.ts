/**
 * Validation of an open() request, pure and complete before anything else
 * happens: a request that fails here reserves no port and writes no rule.
 * Messages name the field and say what to send instead.
 */
import { FerryError, fieldRequired, invalidArgument } from '../../shared/errors.js';
import { validateEndpoints } from './addresses.js';
import type { PinholeRequest } from '../../shared/pinhole-request.js';
import type { AddressFamily } from './firewall.js';

/** Ids travel in a rule comment: short, and free of quotes and spaces. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;

export interface ValidOpenRequest {
  vmId: string;
  jobId: string;
  family: AddressFamily;
  /** Canonical forms. */
  source: string;
  destination: string;
  /** 1, or 2 with a disks (NBD) port. */
  portCount: 1 | 2;
  ttlMs: number;
}

export interface OpenRequestLimits {
  defaultTtlMs: number;
  maxTtlMs: number;
  localAddresses: readonly string[];
  /** Families the backend manages. */
  families: readonly AddressFamily[];
}

export function validateOpenRequest(r: PinholeRequest, limits: OpenRequestLimits): ValidOpenRequest {
  if (typeof r !== 'object' || r === null) throw fieldRequired('request', 'missing; give vmId, jobId, source and destination');
  for (const field of ['vmId', 'jobId'] as const) {
    const v: unknown = r[field];
    if (typeof v !== 'string' || !ID_PATTERN.test(v)) {
      throw invalidArgument(
        field,
        `${JSON.stringify(v)} must be 1-64 letters, digits or . _ : @ - (starting with a letter or digit); it is written into the firewall rule's comment`,
      );
    }
  }
  const ttlMs = r.ttlMs ?? limits.defaultTtlMs;
  if (!(Number.isInteger(ttlMs) && ttlMs >= 1 && ttlMs <= limits.maxTtlMs)) {
    throw invalidArgument('ttlMs', `${JSON.stringify(ttlMs)} must be a whole number of milliseconds from 1 to ${limits.maxTtlMs}`);
  }
  if (r.disksPort !== undefined && typeof r.disksPort !== 'boolean') {
    throw invalidArgument('disksPort', `${JSON.stringify(r.disksPort)} must be true or false`);
  }
  const ep = validateEndpoints(r.source, r.destination, limits.localAddresses);
  if (!limits.families.includes(ep.family)) {
    throw new FerryError(
      'FAILED_PRECONDITION',
      `${ep.family === 'ipv4' ? 'IPv4' : 'IPv6'} pinholes are disabled on this host (firewall families: ${limits.families.join(', ')}); ` +
        `use migration addresses of an enabled family or enable ${ep.family} in the firewall configuration`,
      { field: 'destination' },
    );
  }
  return { vmId: r.vmId, jobId: r.jobId, ttlMs, portCount: r.disksPort ? 2 : 1, ...ep };
}
