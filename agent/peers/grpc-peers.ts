/**
 * The PeerAgents port over gRPC: the source agent calling the destination's
 * Peer service with the typed client (and, for a maintenance's drain, its
 * Host service's GetStats: the DestinationMemory port). Channels are cached per destination,
 * and replaced when the credentials change (a reloaded certificate). Every
 * call carries its own deadline (the core adds none): a destination that
 * does not answer in time is DEADLINE_EXCEEDED, naming it and the call.
 */
import type * as grpc from '@grpc/grpc-js';
import { connectAgent, unary, type FerryClients } from '../../shared/client.js';
import { FerryError, isFerryError } from '../../shared/errors.js';
import { msFromProtoTime } from '../../shared/proto-time.js';
import type { PrepareIncomingResponse__Output } from '../../shared/generated/ferry/v1/PrepareIncomingResponse.js';
import type {
  FinishIncomingArgs,
  IncomingCheckAnswer,
  IncomingCheckArgs,
  IncomingOffer,
  PeerAgents,
  PrepareIncomingArgs,
  PrepareRecoveryArgs,
  TraceContext,
} from '../migration/index.js';
import { metadataWithTrace } from '../rpc/trace-metadata.js';
import { checkArgsToProto, findingFromProto } from '../rpc/convert-check.js';
import { coldIncomingToProto, transferOfferFromProto } from '../rpc/convert-cold-incoming.js';
import type { DestinationMemory } from '../maintenance/index.js';

export class GrpcPeers implements PeerAgents, DestinationMemory {
  private readonly clients = new Map<string, { clients: FerryClients; credentials: grpc.ChannelCredentials }>();

  constructor(
    /** Returns the same object until the credentials really change. */
    private readonly credentials: () => grpc.ChannelCredentials,
    private readonly callTimeoutMs: number,
  ) {}

  async prepareIncoming(dst: string, { trace, cold, ...args }: PrepareIncomingArgs): Promise<IncomingOffer> {
    const request = { ...args, cold: cold ? coldIncomingToProto(cold) : null };
    return offerFrom(await this.call(dst, 'PrepareIncoming', (c) => unary(c.peer, 'PrepareIncoming', request, this.options(trace))));
  }

  async prepareRecovery(dst: string, { trace, ...args }: PrepareRecoveryArgs): Promise<IncomingOffer> {
    const reply = await this.call(dst, 'PrepareRecovery', (c) => unary(c.peer, 'PrepareRecovery', args, this.options(trace))).catch(
      (err: unknown) => {
        // grpc-js's answer for a method the server lacks carries no reason: a
        // destination agent older than PrepareRecovery, which cannot resume.
        if (isFerryError(err, 'UNIMPLEMENTED') && err.details.reason === undefined) {
          throw new FerryError(
            'FAILED_PRECONDITION',
            `destination agent ${dst} does not implement PrepareRecovery (an older ferryd): it cannot resume the post-copy; upgrade its ferryd, then call RecoverMigration`,
            { reason: 'POSTCOPY_NOT_RECOVERABLE' },
            { cause: err },
          );
        }
        throw err;
      },
    );
    return offerFrom(reply);
  }

  async checkIncoming(dst: string, args: IncomingCheckArgs): Promise<IncomingCheckAnswer> {
    const reply = await this.call(dst, 'CheckIncoming', (c) =>
      unary(c.peer, 'CheckIncoming', checkArgsToProto(args), this.options(args.trace)),
    );
    return {
      blocking: reply.blocking.map(findingFromProto),
      warnings: reply.warnings.map(findingFromProto),
      // An agent older than the field answers ''; its guests' consoles are then judged as on a host without a display address.
      displayAddress: reply.displayAddress ?? '',
    };
  }

  async finishIncoming(dst: string, { trace, ...args }: FinishIncomingArgs): Promise<void> {
    await this.call(dst, 'FinishIncoming', (c) => unary(c.peer, 'FinishIncoming', args, this.options(trace)));
  }

  /** The deadline, and the caller's span as W3C traceparent in the metadata (the destination's span becomes its child). */
  private options(trace: TraceContext | undefined) {
    const metadata = metadataWithTrace(trace);
    return { timeoutMs: this.callTimeoutMs, ...(metadata ? { metadata } : {}) };
  }

  /** The destination's memory available to new guests (its HostService.GetStats; a maintenance's drain spreads by it). */
  async availableMemory(dst: string): Promise<number> {
    const reply = await this.call(dst, 'GetStats', (c) => unary(c.host, 'GetStats', {}, { timeoutMs: this.callTimeoutMs }));
    return Number(reply.memoryAvailableBytes);
  }

  close(): void {
    for (const c of this.clients.values()) c.clients.close();
    this.clients.clear();
  }

  private async call<T>(dst: string, method: string, fn: (clients: FerryClients) => Promise<T>): Promise<T> {
    const credentials = this.credentials();
    let cached = this.clients.get(dst);
    if (cached?.credentials !== credentials) {
      // Calls in flight on the old channel finish on it.
      cached?.clients.close();
      cached = { clients: connectAgent(dst, credentials), credentials };
      this.clients.set(dst, cached);
    }
    const { clients } = cached;
    try {
      return await fn(clients);
    } catch (err) {
      // The destination's own answer (e.g. INVALID_ARGUMENT for dstqemu, or
      // LIBVIRT_UNAVAILABLE there) has a reason and is passed on as it is; a
      // status without one comes from grpc-js: the agent is missing or silent.
      const fromAgent = err instanceof FerryError && err.details.reason !== undefined;
      if (!fromAgent && isFerryError(err, 'DEADLINE_EXCEEDED')) {
        throw new FerryError(
          err.kind,
          `destination agent ${dst} did not answer ${method} within ${this.callTimeoutMs / 1000} s: ${err.message}`,
          { reason: 'DESTINATION_TIMEOUT' },
          { cause: err },
        );
      }
      if (!fromAgent && isFerryError(err, 'UNAVAILABLE')) {
        throw new FerryError(
          err.kind,
          `destination agent ${dst} is not reachable: ${err.message}`,
          { reason: 'DESTINATION_UNREACHABLE' },
          { cause: err },
        );
      }
      throw err;
    }
  }
}

/**
 * PrepareIncoming's and PrepareRecovery's answer (the same fields; display_address and transfer are PrepareIncoming's alone).
 * A destination older than cold migration answers no transfer even when asked for one: the core sees none.
 */
function offerFrom(
  reply: Omit<PrepareIncomingResponse__Output, 'displayAddress' | 'transfer'> & {
    displayAddress?: string;
    transfer?: PrepareIncomingResponse__Output['transfer'];
  },
): IncomingOffer {
  return {
    migrateUri: reply.migrateUri,
    listenAddress: reply.listenAddress,
    port: reply.port,
    disksPort: reply.disksPort,
    pinholeExpiresAt: Math.floor(msFromProtoTime(reply.pinholeExpiresAt)),
    dconnuri: reply.dconnuri,
    network: reply.network === 'NETWORK_ROLE_MANAGEMENT' ? 'management' : 'migration',
    displayAddress: reply.displayAddress ?? '',
    ...(reply.transfer ? { transfer: transferOfferFromProto(reply.transfer) } : {}),
  };
}
