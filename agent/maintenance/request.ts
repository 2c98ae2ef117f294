/**
 * What only the host can check of an EnterMaintenance request (agent/rpc
 * checks each field's form): destinations given once each, none of them
 * this host, a max_parallel in range; and whether two requests are the same
 * (a repeated Enter answers the maintenance under way).
 */
import { FerryError, fieldRequired, invalidArgument, isFerryError } from '../../shared/errors.js';
import { splitHostPort } from '../../shared/net.js';
import { LIMIT_RANGE } from '../migration/index.js';
import type { DrainHost } from './ports.js';
import type { EnterRequest, Maintenance } from './types.js';

/** The agents' default port (shared/client.ts's DEFAULT_AGENT_PORT), not imported: the core loads no gRPC. */
const AGENT_PORT = 54321;

/** More lanes than the outgoing limit are allowed (they wait for it), up to the limit's own maximum. */
export const MAX_PARALLEL = LIMIT_RANGE.max;

export async function checkEnterRequest(request: EnterRequest, host: DrainHost): Promise<void> {
  if (request.destinations.length === 0) {
    throw fieldRequired('destinations', 'needs at least one destination agent for the VMs of this host');
  }
  if (!Number.isInteger(request.maxParallel) || request.maxParallel < 0 || request.maxParallel > MAX_PARALLEL) {
    throw invalidArgument('max_parallel', `must be 0 (the outgoing limit) to ${MAX_PARALLEL}; got ${request.maxParallel}`);
  }
  const seen = new Map<string, number>();
  for (const [i, destination] of request.destinations.entries()) {
    const key = agentKey(destination.host);
    const first = seen.get(key);
    if (first !== undefined) {
      throw invalidArgument(`destinations[${i}].host`, `${destination.host} is already destinations[${first}]: give each destination once`);
    }
    seen.set(key, i);
  }
  await Promise.all(request.destinations.map((d, i) => refuseThisHost(d.host, `destinations[${i}].host`, host)));
}

/** host[:port] in one spelling: lower case, the default port made explicit. */
export function agentKey(dst: string): string {
  const { host, port } = splitHostPort(dst, AGENT_PORT);
  return `${host.toLowerCase()}|${port}`;
}

/** Whether the destination is this host: by one of its names, or by an address of its own that the name resolves to. */
async function refuseThisHost(dst: string, field: string, host: DrainHost): Promise<void> {
  const name = splitHostPort(dst, AGENT_PORT).host.toLowerCase();
  const names = new Set(['localhost', ...host.names().map((n) => n.toLowerCase())]);
  const isSelf = (why: string) => invalidArgument(field, `${dst} is this host (${why}): a maintenance moves the VMs to other hosts`);
  if (names.has(name)) throw isSelf('one of its names');
  let address: string;
  try {
    address = await host.network.resolve(name);
  } catch (err) {
    if (!isFerryError(err)) throw err;
    throw new FerryError('INVALID_ARGUMENT', `${field}: ${dst} does not resolve: ${err.message}`, { field, reason: 'INVALID_FIELD' });
  }
  const own = new Set(host.network.localAddresses().map((a) => a.address));
  if (own.has(address) || address.startsWith('127.') || address === '::1')
    throw isSelf(`it resolves to ${address}, an address of this host`);
}

/** The request as sent, in one spelling: two Enter calls are the same when these are equal. */
export function fingerprintOf(request: EnterRequest): string {
  return JSON.stringify(sorted(request));
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sorted(v)]),
    );
  }
  return value;
}

/** EnterMaintenance while another maintenance is under way. */
export function maintenanceInProgress(current: Maintenance): FerryError {
  const to = current.destinations.map((d) => d.host).join(', ');
  return new FerryError(
    'FAILED_PRECONDITION',
    `a maintenance is already under way (${current.phase}, to ${to}) with another request: ExitMaintenance first, or repeat the request as it was`,
    { reason: 'MAINTENANCE_IN_PROGRESS' },
  );
}
