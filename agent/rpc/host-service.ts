/**
 * The Host gRPC service: each method delegates to the HostInfo core (or, for
 * maintenance, to the maintenance core) and converts its plain facts to the
 * contract's messages. Errors go through the one mapping (shared/grpc-status.ts).
 */
import type { sendUnaryData } from '@grpc/grpc-js';
import { toServiceError } from '../../shared/grpc-status.js';
import { FerryError } from '../../shared/errors.js';
import type { HostServiceHandlers } from '../../shared/generated/ferry/v1/HostService.js';
import type { GetCapabilitiesResponse } from '../../shared/generated/ferry/v1/GetCapabilitiesResponse.js';
import type { GetStatsResponse } from '../../shared/generated/ferry/v1/GetStatsResponse.js';
import type { ListVmsResponse } from '../../shared/generated/ferry/v1/ListVmsResponse.js';
import type { HostCapabilities, HostInfo, VmFacts } from '../host/host-info.js';
import type { HostStatsFacts } from '../host/stats.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import type { EventHub } from '../events/index.js';
import type { MaintenanceMode } from '../maintenance/index.js';
import { watchMessageToProto, watchRequestFromProto } from './convert-events.js';
import { vmStateToProto } from './convert-vm-state.js';
import { toProgress } from './convert.js';
import { streamHandler, unaryHandler } from './handler.js';
import { enterRequestFromProto, maintenancePhaseToProto, maintenanceToProto } from './convert-maintenance.js';

/** Without an event hub, WatchHost answers UNIMPLEMENTED; without a maintenance core, the maintenance methods do. */
export function createHostService(host: HostInfo, events?: EventHub, maintenance?: MaintenanceMode): HostServiceHandlers {
  const inMaintenance = () => {
    if (!maintenance) throw new FerryError('UNIMPLEMENTED', 'this agent has no maintenance mode');
    return maintenance;
  };
  return {
    GetCapabilities: (_call, callback) =>
      answer(callback, async () => ({
        ...capabilitiesToProto(await host.capabilities()),
        maintenance: maintenancePhaseToProto(maintenance?.phase() ?? 'off'),
      })),
    GetStats: (_call, callback) => answer(callback, async () => statsToProto(await host.stats())),
    ListVms: (_call, callback) => answer(callback, async () => vmsToProto(await host.listVms())),
    WatchHost: streamHandler(async (call) => {
      if (!events) throw new FerryError('UNIMPLEMENTED', 'this agent has no event hub');
      const watcher = events.watch(watchRequestFromProto(call.request), {
        // grpc-js keeps a message it refuses; false only asks to wait for 'drain'.
        write: (message) => call.write(watchMessageToProto(message, events.incarnation)),
        onceDrain: (callback) => call.once('drain', callback),
        fail: (err) => call.emit('error', toServiceError(err)),
        end: () => call.end(),
      });
      // A client that vanishes (or cancels) frees its watcher.
      call.on('cancelled', () => watcher.close());
      call.on('close', () => watcher.close());
    }),
    EnterMaintenance: unaryHandler(async (request) => {
      const core = inMaintenance();
      return { maintenance: maintenanceToProto(await core.enter(enterRequestFromProto(request))) };
    }),
    GetMaintenance: unaryHandler(async () => ({ maintenance: maintenanceToProto(inMaintenance().get()) })),
    WatchMaintenance: streamHandler(async (call) => {
      const watch = inMaintenance().watch((now) => call.write({ maintenance: maintenanceToProto(now) }));
      // A client that goes away frees its watcher however the call ends (as WatchMigration's).
      for (const event of ['cancelled', 'close', 'error'] as const) call.once(event, watch.stop);
      await watch.done;
      if (!call.cancelled) call.end();
    }),
    ExitMaintenance: unaryHandler(async (request) => ({
      maintenance: maintenanceToProto(await inMaintenance().exit({ cancelMigrations: request.cancelMigrations })),
    })),
  };
}

function answer<T>(callback: sendUnaryData<T>, produce: () => Promise<T>): void {
  produce().then(
    (response) => callback(null, response),
    (err: unknown) => callback(toServiceError(err)),
  );
}

export function capabilitiesToProto(facts: HostCapabilities): GetCapabilitiesResponse {
  return {
    hostname: facts.hostname,
    hostUuid: facts.hostUuid,
    ferryVersion: facts.ferryVersion,
    cpu: { ...facts.cpu },
    memoryBytes: facts.memoryBytes,
    nics: facts.nics.map((nic) => ({
      name: nic.name,
      addresses: nic.addresses,
      mac: nic.mac,
      speedMbps: nic.speedMbps,
      mtu: nic.mtu,
      state: nic.state,
      migration: nic.migration,
      management: nic.management,
    })),
    migrationNetwork: { ...facts.migrationNetwork },
    libvirtVersion: facts.libvirtVersion,
    qemuVersion: facts.qemuVersion,
    kvmAvailable: facts.kvmAvailable,
    firewallBackend: facts.firewallBackend,
    firewallBackendReason: facts.firewallBackendReason,
    limits: { ...facts.limits },
    insecure: facts.insecure,
    warnings: facts.warnings,
    postcopyPaused: facts.postcopyPaused.map(toProgress),
  };
}

export function statsToProto(stats: HostStatsFacts): GetStatsResponse {
  return {
    time: protoTimeFromMs(stats.time),
    cpuPercent: stats.cpuPercent,
    memoryTotalBytes: stats.memoryTotalBytes,
    memoryUsedBytes: stats.memoryUsedBytes,
    memoryAvailableBytes: stats.memoryAvailableBytes,
    nics: stats.nics.map((n) => ({ ...n })),
    outgoingMigrations: stats.outgoingMigrations,
    incomingMigrations: stats.incomingMigrations,
    queuedMigrations: stats.queuedMigrations,
    agent: {
      rssBytes: stats.agent.rssBytes,
      eventLoopDelayP99: protoTimeFromMs(stats.agent.eventLoopDelayP99Ms),
      eventLoopDelayMax: protoTimeFromMs(stats.agent.eventLoopDelayMaxMs),
      uptime: protoTimeFromMs(stats.agent.uptimeS * 1000),
    },
  };
}

export function vmsToProto(vms: readonly VmFacts[]): ListVmsResponse {
  return { vms: vms.map((vm) => ({ ...vm, state: vmStateToProto(vm.state) })) };
}
