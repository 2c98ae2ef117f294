/** The Peer gRPC service (agent to agent): validate, call the core, map errors. */
import type { PeerHandlers } from '../../shared/generated/ferry/v1/Peer.js';
import { optionalCidr, optionalUnicast, requireText, requireUuid } from '../../shared/validation.js';
import type { IncomingMigrations } from '../migration/incoming.js';
import { toTimestamp } from './convert.js';
import { unaryHandler } from './handler.js';

export function peerService(incoming: IncomingMigrations): PeerHandlers {
  return {
    PrepareIncoming: unaryHandler(async (request) => {
      const offer = await incoming.prepare({
        vmId: requireUuid('vm_id', request.vmId),
        jobId: requireText('job_id', request.jobId, "the source's job id"),
        sourceHost: requireText('source_host', request.sourceHost, "the source host's name"),
        sourceMigrationAddress: optionalUnicast('source_migration_address', requireText('source_migration_address', request.sourceMigrationAddress, "the source's migration address")),
        dstqemu: optionalUnicast('dstqemu', request.dstqemu),
        migrationNetwork: optionalCidr('migration_network', request.migrationNetwork),
        copyStorage: request.copyStorage,
        memoryBytes: request.memoryBytes,
      });
      return {
        migrateUri: offer.migrateUri,
        listenAddress: offer.listenAddress,
        port: offer.port,
        disksPort: offer.disksPort,
        pinholeExpiresAt: toTimestamp(offer.pinholeExpiresAt),
        dconnuri: offer.destinationUri,
        network: offer.network === 'migration' ? 'NETWORK_ROLE_MIGRATION' : 'NETWORK_ROLE_MANAGEMENT',
      };
    }),

    FinishIncoming: unaryHandler(async (request) => {
      const pinholeClosed = await incoming.finish({
        jobId: requireText('job_id', request.jobId, "the source's job id"),
        vmId: requireUuid('vm_id', request.vmId),
      });
      return { pinholeClosed };
    }),
  };
}
