/**
 * The MigrationService gRPC service: validate and convert (convert.ts), call the
 * core (agent/migration), map errors (handler.ts). Nothing else happens here.
 */
import type { MigrationServiceHandlers } from '../../shared/generated/ferry/v1/MigrationService.js';
import { FerryError, fieldRequired } from '../../shared/errors.js';
import { optionalInRange, optionalUnicast } from '../../shared/validation.js';
import { optionalDuration } from '../../shared/proto-time.js';
import { type OutgoingMigrations, LIMIT_RANGE, type HostLimits } from '../migration/index.js';
import {
  checkRequestFromProto,
  listQueryFromProto,
  phaseToProto,
  requestFromProto,
  restoreFromProto,
  selectorFromRequest,
  toProgress,
} from './convert.js';
import { findingsToProto } from './convert-check.js';
import { streamHandler, unaryHandler } from './handler.js';
import { traceFromMetadata } from './trace-metadata.js';

export function migrationService(deps: {
  migrations: OutgoingMigrations;
  /** The limits SetMigrationLimits changes; without them it is UNIMPLEMENTED. */
  limits?: HostLimits;
}): MigrationServiceHandlers {
  const { migrations } = deps;
  return {
    // The engine's traceparent, if it sent one: the migration's trace continues it.
    Migrate: unaryHandler(async (request, call) => {
      const trace = traceFromMetadata(call.metadata);
      const accepted = await migrations.migrate({ ...requestFromProto(request), ...(trace ? { trace } : {}) });
      return { jobId: accepted.jobId, vmId: accepted.vmId, phase: phaseToProto(accepted.phase) };
    }),

    CheckMigration: unaryHandler(async (request, call) => {
      if (!request.migration) throw fieldRequired('migration', 'is required: the migration to check, as Migrate would receive it');
      const trace = traceFromMetadata(call.metadata);
      const report = await migrations.check({ ...checkRequestFromProto(request.migration), ...(trace ? { trace } : {}) });
      return { ok: report.ok, ...findingsToProto(report) };
    }),

    GetMigrationStatus: unaryHandler(async (request) => ({ status: toProgress(migrations.status(selectorFromRequest(request.job))) })),

    ListMigrations: unaryHandler(async (request) => {
      const page = migrations.page(listQueryFromProto(request));
      return { jobs: page.jobs.map(toProgress), nextPageToken: page.nextPageToken };
    }),

    WatchMigration: streamHandler(async (call) => {
      const watch = migrations.watch(selectorFromRequest(call.request.job), (status) => call.write({ status: toProgress(status) }));
      // A client that goes away frees its watcher however the call ends: a
      // cancel (RST_STREAM), or a connection that closed or was dropped by the
      // server's keepalive (server.ts) ends the call with 'cancelled', 'close' or 'error'.
      for (const event of ['cancelled', 'close', 'error'] as const) call.once(event, watch.stop);
      await watch.done;
      if (!call.cancelled) call.end();
    }),

    CancelMigration: unaryHandler(async (request) => ({ status: toProgress(await migrations.cancel(selectorFromRequest(request.job))) })),

    // dstqemu as Migrate's: empty, or a unicast address (whether the destination owns it is the destination's to say).
    RecoverMigration: unaryHandler(async (request) => {
      const selector = selectorFromRequest(request.job);
      const dstqemu = optionalUnicast('dstqemu', request.dstqemu);
      return { status: toProgress(await migrations.recoverPostcopy(selector, dstqemu ? { dstqemu } : {})) };
    }),

    ChangeMigrationParams: unaryHandler(async (request) => {
      const selector = selectorFromRequest(request.job);
      const maxBandwidthMibps = optionalInRange('max_bandwidth_mibps', request.maxBandwidthMibps, 0, 1_000_000, 'MiB/s (0 = unlimited)');
      const maxDowntimeMs = optionalDuration('max_downtime', request.maxDowntime, 'ms', 1, 600_000);
      const status = await migrations.changeParams(selector, {
        ...(maxBandwidthMibps !== undefined ? { maxBandwidthMibps } : {}),
        ...(maxDowntimeMs !== undefined ? { maxDowntimeMs } : {}),
        startPostCopy: request.startPostCopy,
      });
      return { status: toProgress(status) };
    }),

    SetMigrationLimits: unaryHandler(async (request) => {
      if (!deps.limits) throw new FerryError('UNIMPLEMENTED', 'this agent has no run-time limits');
      const now = deps.limits.set({
        ...optional('maxOutgoing', optionalInRange('max_outgoing', request.maxOutgoing, LIMIT_RANGE.min, LIMIT_RANGE.max, 'migrations')),
        ...optional('maxIncoming', optionalInRange('max_incoming', request.maxIncoming, LIMIT_RANGE.min, LIMIT_RANGE.max, 'migrations')),
      });
      return { maxOutgoing: now.maxOutgoing, maxIncoming: now.maxIncoming };
    }),

    Restore: unaryHandler(async (request) => {
      const vm = await migrations.restoreSaved(restoreFromProto(request));
      return { vmId: vm.id, name: vm.name };
    }),
  };
}

function optional<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}
