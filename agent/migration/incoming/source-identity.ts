/**
 * Whether the agent calling PrepareIncoming may open a pinhole for the source
 * it names. The pinhole admits exactly source_migration_address, so a caller
 * must not be able to name any address it likes: with a stolen certificate
 * of host A one could otherwise open holes for host C, or for a machine
 * outside the cluster. The rule (see peer.proto):
 *   - source_host is one of the names the caller's certificate carries (its
 *     CN, a DNS SAN or an IP SAN): a host prepares migrations from itself only;
 *   - source_migration_address is one of the certificate's IP SANs: the CA,
 *     not the caller, says which addresses are that host's. No DNS lookup:
 *     a resolver answer is not signed by anyone.
 * Plain data in, FerryError out: the gRPC layer extracts the identity.
 */
import { FerryError } from '../../../shared/errors.js';
import { addressToBigInt } from '../../../shared/cidr.js';
import { AFTER_REISSUE, reissueCommand } from '../../../shared/reissue-command.js';

/** What the caller's verified certificate says (agent/rpc/auth.ts fills it in). */
export interface SourceIdentity {
  /** Subject CN, e.g. "lab1". */
  name: string;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
}

export function checkSourceIdentity(caller: SourceIdentity, request: { sourceHost: string; sourceMigrationAddress: string }): void {
  const who = `the caller's certificate (${caller.name || 'no CN'})`;
  const names = [caller.name, ...caller.dnsNames].filter(Boolean);
  const host = request.sourceHost;
  const namesHost = names.some((n) => n.toLowerCase() === host.toLowerCase()) || caller.ipAddresses.some((a) => sameAddress(a, host));
  if (!namesHost) {
    throw new FerryError(
      'PERMISSION_DENIED',
      `${who} does not name source_host "${host}" (it names ${[...names, ...caller.ipAddresses].join(', ') || 'nothing'}): an agent may only prepare migrations from itself`,
      { field: 'source_host', reason: 'PINHOLE_DENIED' },
    );
  }
  if (!caller.ipAddresses.some((a) => sameAddress(a, request.sourceMigrationAddress))) {
    throw new FerryError(
      'PERMISSION_DENIED',
      `source_migration_address ${request.sourceMigrationAddress} is not an address in ${who} (it lists ${caller.ipAddresses.join(', ') || 'no IP address'}): no pinhole for it; ` +
        `if it is that host's migration address, re-issue its certificate with it: ${reissueCommand(caller, [request.sourceMigrationAddress])}, ${AFTER_REISSUE}`,
      { field: 'source_migration_address', reason: 'PINHOLE_DENIED' },
    );
  }
}

function sameAddress(a: string, b: string): boolean {
  const x = addressToBigInt(a);
  const y = addressToBigInt(b);
  return x !== undefined && y !== undefined && x.family === y.family && x.value === y.value;
}
