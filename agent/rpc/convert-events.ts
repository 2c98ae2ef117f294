/**
 * The event hub's watch messages as WatchHostResponse, done once at the edge.
 */
import type { WatchHostResponse } from '../../shared/generated/ferry/v1/WatchHostResponse.js';
import type { HostState } from '../../shared/generated/ferry/v1/HostState.js';
import type { ResyncReason as ProtoResyncReason } from '../../shared/generated/ferry/v1/ResyncReason.js';
import type { VmLifecycleEvent } from '../../shared/generated/ferry/v1/VmLifecycleEvent.js';
import type { WatchHostRequest__Output } from '../../shared/generated/ferry/v1/WatchHostRequest.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import type { HostEvent, HostStateFacts, ResyncReason, VmLifecycle, WatchMessage, WatchRequest } from '../events/index.js';
import { toProgress } from './convert.js';
import { vmStateToProto } from './convert-vm-state.js';
import { maintenancePhaseToProto } from './convert-maintenance.js';

const REASONS: Record<ResyncReason, ProtoResyncReason> = {
  'agent-restarted': 'RESYNC_REASON_AGENT_RESTARTED',
  'history-exceeded': 'RESYNC_REASON_HISTORY_EXCEEDED',
  'watcher-overflow': 'RESYNC_REASON_WATCHER_OVERFLOW',
  'events-missed': 'RESYNC_REASON_EVENTS_MISSED',
  'unknown-revision': 'RESYNC_REASON_UNKNOWN_REVISION',
};

const LIFECYCLE: Record<VmLifecycle, VmLifecycleEvent> = {
  defined: 'VM_LIFECYCLE_EVENT_DEFINED',
  undefined: 'VM_LIFECYCLE_EVENT_UNDEFINED',
  started: 'VM_LIFECYCLE_EVENT_STARTED',
  paused: 'VM_LIFECYCLE_EVENT_PAUSED',
  resumed: 'VM_LIFECYCLE_EVENT_RESUMED',
  stopped: 'VM_LIFECYCLE_EVENT_STOPPED',
  shutdown: 'VM_LIFECYCLE_EVENT_SHUTDOWN',
  pmsuspended: 'VM_LIFECYCLE_EVENT_PMSUSPENDED',
  crashed: 'VM_LIFECYCLE_EVENT_CRASHED',
  'migrated-in': 'VM_LIFECYCLE_EVENT_MIGRATED_IN',
  'migrated-out': 'VM_LIFECYCLE_EVENT_MIGRATED_OUT',
};

export function watchRequestFromProto(request: WatchHostRequest__Output): WatchRequest {
  return { sinceRevision: Number(request.sinceRevision), incarnation: request.incarnation };
}

export function watchMessageToProto(message: WatchMessage, incarnation: string): WatchHostResponse {
  const head = { revision: message.revision, incarnation, time: protoTimeFromMs(message.time) };
  switch (message.kind) {
    case 'resync':
      return { ...head, resync: { reason: REASONS[message.reason], message: message.message } };
    case 'snapshot': {
      const { vms, migrations, host } = message.snapshot;
      return {
        ...head,
        snapshot: {
          vms: vms.map((vm) => ({ ...vm, state: vmStateToProto(vm.state) })),
          migrations: migrations.map(toProgress),
          host: hostToProto(host),
        },
      };
    }
    case 'event':
      return { ...head, ...eventToProto(message.event) };
  }
}

function eventToProto(event: HostEvent): WatchHostResponse {
  switch (event.kind) {
    case 'vm':
      return { vm: { ...event.vm, event: LIFECYCLE[event.vm.event] } };
    case 'migration':
      return { migration: toProgress(event.job) };
    case 'host':
      return { host: hostToProto(event.host) };
  }
}

function hostToProto(host: HostStateFacts): HostState {
  return { ...host, limits: { ...host.limits }, maintenance: maintenancePhaseToProto(host.maintenance) };
}
