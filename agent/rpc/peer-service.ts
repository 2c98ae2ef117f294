/** The Peer gRPC service (agent to agent): validate, call the core, map errors. */
import type { PeerServiceHandlers } from '../../shared/generated/ferry/v1/PeerService.js';
import type { DiskImage__Output } from '../../shared/generated/ferry/v1/DiskImage.js';
import { optionalCidr, optionalUnicast, requireAbsolutePath, requireText, requireUuid } from '../../shared/validation.js';
import type { PrepareIncomingRequest__Output } from '../../shared/generated/ferry/v1/PrepareIncomingRequest.js';
import type { DiskImageSpec, IncomingMigrations, PrepareIncomingArgs } from '../migration/index.js';
import { callerOf } from './auth.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import { unaryHandler } from './handler.js';

export function peerService(incoming: IncomingMigrations): PeerServiceHandlers {
  return {
    // The caller's certificate goes to the core as plain data: it decides
    // which source this caller may open a pinhole for (null without TLS).
    PrepareIncoming: unaryHandler(async (request, call) => {
      const offer = await incoming.prepare(prepareArgsFromProto(request), callerOf(call));
      return {
        migrateUri: offer.migrateUri,
        listenAddress: offer.listenAddress,
        port: offer.port,
        disksPort: offer.disksPort,
        pinholeExpiresAt: protoTimeFromMs(offer.pinholeExpiresAt),
        dconnuri: offer.dconnuri,
        network: offer.network === 'migration' ? 'NETWORK_ROLE_MIGRATION' : 'NETWORK_ROLE_MANAGEMENT',
      };
    }),

    FinishIncoming: unaryHandler(async (request, call) => {
      const pinholeClosed = await incoming.finish(
        {
          jobId: requireText('job_id', request.jobId, "the source's job id"),
          vmId: requireUuid('vm_id', request.vmId),
          success: request.success,
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
    vmId: requireUuid('vm_id', request.vmId),
    jobId: requireText('job_id', request.jobId, "the source's job id"),
    sourceHost: requireText('source_host', request.sourceHost, "the source host's name"),
    sourceMigrationAddress: optionalUnicast(
      'source_migration_address',
      requireText('source_migration_address', request.sourceMigrationAddress, "the source's migration address"),
    ),
    dstqemu: optionalUnicast('dstqemu', request.dstqemu),
    migrationNetwork: optionalCidr('migration_network', request.migrationNetwork),
    copyStorage: request.copyStorage,
    memoryBytes: request.memoryBytes,
    disks: request.disks.map((d, i) => diskImageFrom(d, i)),
  };
}

/** Shape only; which paths and formats this host accepts is the storage adapter's call. */
function diskImageFrom(d: DiskImage__Output, i: number): DiskImageSpec {
  const field = `disks[${i}]`;
  return {
    target: requireText(`${field}.target`, d.target, 'the guest device, e.g. vda'),
    path: requireAbsolutePath(`${field}.path`, d.path),
    format: requireText(`${field}.format`, d.format, 'the image format, e.g. qcow2'),
    capacityBytes: d.capacityBytes,
    ...(d.backingPath ? { backingPath: requireAbsolutePath(`${field}.backing_path`, d.backingPath), backingFormat: d.backingFormat } : {}),
  };
}
