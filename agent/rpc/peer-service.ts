/** The Peer gRPC service (agent to agent): validate, call the core, map errors. */
import type { PeerServiceHandlers } from '../../shared/generated/ferry/v1/PeerService.js';
import { optionalCidr, optionalUnicast, requireText, requireUuid } from '../../shared/validation.js';
import type { PrepareIncomingRequest__Output } from '../../shared/generated/ferry/v1/PrepareIncomingRequest.js';
import type { PrepareIncomingResponse } from '../../shared/generated/ferry/v1/PrepareIncomingResponse.js';
import type { PrepareRecoveryRequest__Output } from '../../shared/generated/ferry/v1/PrepareRecoveryRequest.js';
import type { IncomingMigrations, IncomingOffer, PrepareIncomingArgs, PrepareRecoveryArgs } from '../migration/index.js';
import { checkArgsFromProto, incomingAnswerToProto } from './convert-check.js';
import { diskImageFrom } from './convert-disk-image.js';
import { coldIncomingFromProto, transferOfferToProto } from './convert-cold-incoming.js';
import { callerOf } from './auth.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import { unaryHandler } from './handler.js';
import { traceFromMetadata } from './trace-metadata.js';

export function peerService(incoming: IncomingMigrations): PeerServiceHandlers {
  return {
    // The caller's certificate goes to the core as plain data: it decides
    // which source this caller may open a pinhole for (null without TLS).
    PrepareIncoming: unaryHandler(async (request, call) => {
      const trace = traceFromMetadata(call.metadata);
      return offerToProto(await incoming.prepare({ ...prepareArgsFromProto(request), ...(trace ? { trace } : {}) }, callerOf(call)));
    }),

    // The same identity check as PrepareIncoming: a new pinhole is opened for the caller's source.
    PrepareRecovery: unaryHandler(async (request, call) => {
      const trace = traceFromMetadata(call.metadata);
      return offerToProto(
        await incoming.prepareRecovery({ ...recoveryArgsFromProto(request), ...(trace ? { trace } : {}) }, callerOf(call)),
      );
    }),

    // Nothing is reserved or opened, so no source identity is needed: only a peer may call (auth.ts).
    CheckIncoming: unaryHandler(async (request, call) => {
      const trace = traceFromMetadata(call.metadata);
      return incomingAnswerToProto(await incoming.check({ ...checkArgsFromProto(request), ...(trace ? { trace } : {}) }));
    }),

    FinishIncoming: unaryHandler(async (request, call) => {
      const trace = traceFromMetadata(call.metadata);
      const pinholeClosed = await incoming.finish(
        {
          jobId: requireText('job_id', request.jobId, "the source's job id"),
          vmId: requireUuid('vm_id', request.vmId),
          success: request.success,
          ...(trace ? { trace } : {}),
        },
        callerOf(call),
      );
      return { pinholeClosed };
    }),
  };
}

/** Every field's syntax, checked once here (addresses: unicast IPs); what they mean for this host is the core's. */
export function prepareArgsFromProto(request: PrepareIncomingRequest__Output): PrepareIncomingArgs {
  return {
    ...recoveryArgsFromProto(request),
    copyStorage: request.copyStorage,
    memoryBytes: request.memoryBytes,
    disks: request.disks.map(diskImageFrom),
    ...(request.cold ? { cold: coldIncomingFromProto(request.cold) } : {}),
  };
}

/** The fields PrepareRecovery shares with PrepareIncoming, checked the same way. */
export function recoveryArgsFromProto(request: PrepareRecoveryRequest__Output): PrepareRecoveryArgs {
  return {
    vmId: requireUuid('vm_id', request.vmId),
    jobId: requireText('job_id', request.jobId, "the source's job id"),
    sourceHost: requireText('source_host', request.sourceHost, "the source host's name"),
    sourceMigrationAddress: optionalUnicast(
      'source_migration_address',
      requireText('source_migration_address', request.sourceMigrationAddress, "the source's migration address"),
    ),
    dstqemu: optionalUnicast('dstqemu', request.dstqemu),
    migrationNetwork: optionalCidr('migration_network', request.migrationNetwork),
  };
}

/** PrepareIncoming's and PrepareRecovery's answer (the two responses have the same fields). */
function offerToProto(offer: IncomingOffer): PrepareIncomingResponse {
  return {
    migrateUri: offer.migrateUri,
    listenAddress: offer.listenAddress,
    port: offer.port,
    disksPort: offer.disksPort,
    pinholeExpiresAt: protoTimeFromMs(offer.pinholeExpiresAt),
    dconnuri: offer.dconnuri,
    network: offer.network === 'migration' ? 'NETWORK_ROLE_MIGRATION' : 'NETWORK_ROLE_MANAGEMENT',
    displayAddress: offer.displayAddress,
    transfer: offer.transfer ? transferOfferToProto(offer.transfer) : null,
  };
}
