/**
 * The maintenance messages (host.proto) and the maintenance core's types:
 * EnterMaintenance's fields checked one by one (what they mean together,
 * and against this host, is the core's request.ts), and a Maintenance back.
 */
import type { EnterMaintenanceRequest__Output } from '../../shared/generated/ferry/v1/EnterMaintenanceRequest.js';
import type { Maintenance as ProtoMaintenance } from '../../shared/generated/ferry/v1/Maintenance.js';
import type { MaintenancePhase as ProtoPhase } from '../../shared/generated/ferry/v1/MaintenancePhase.js';
import type { MaintenanceVmState as ProtoVmState } from '../../shared/generated/ferry/v1/MaintenanceVmState.js';
import type { MigrationPolicy as ProtoPolicy } from '../../shared/generated/ferry/v1/MigrationPolicy.js';
import { DEFAULT_AGENT_PORT } from '../../shared/client.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import { optionalCidr, optionalUnicast, requireHostPort } from '../../shared/validation.js';
import type { EnterRequest, Maintenance, MaintenancePhase, MaintenanceVmState } from '../maintenance/index.js';
import { BUILTIN_DEFAULTS, type PolicyRequest } from '../migration/index.js';
import { failureToProto } from './convert.js';
import { findingToProto } from './convert-check.js';
import { policyRequest, policyToProto } from './convert-policy.js';

export function enterRequestFromProto(request: EnterMaintenanceRequest__Output): EnterRequest {
  const destinations = request.destinations.map((d, i) => {
    requireHostPort(`destinations[${i}].host`, d.host, DEFAULT_AGENT_PORT);
    return { host: d.host, dstqemu: optionalUnicast(`destinations[${i}].dstqemu`, d.dstqemu) };
  });
  return {
    destinations,
    migrationNetwork: optionalCidr('migration_network', request.migrationNetwork),
    policy: policyRequest(request.policy),
    maxParallel: request.maxParallel,
  };
}

export function maintenancePhaseToProto(phase: MaintenancePhase): ProtoPhase {
  return `MAINTENANCE_PHASE_${phase.toUpperCase()}` as ProtoPhase;
}

function vmStateToProto(state: MaintenanceVmState): ProtoVmState {
  return `MAINTENANCE_VM_STATE_${state.toUpperCase()}` as ProtoVmState;
}

export function maintenanceToProto(m: Maintenance): ProtoMaintenance {
  return {
    phase: maintenancePhaseToProto(m.phase),
    enteredTime: m.enteredAt === undefined ? null : protoTimeFromMs(m.enteredAt),
    drainedTime: m.drainedAt === undefined ? null : protoTimeFromMs(m.drainedAt),
    destinations: m.destinations.map((d) => ({ host: d.host, dstqemu: d.dstqemu })),
    migrationNetwork: m.migrationNetwork,
    policy: Object.keys(m.policy).length > 0 ? policyRequestToProto(m.policy) : null,
    maxParallel: m.maxParallel,
    vms: m.vms.map((vm) => ({
      vmId: vm.vmId,
      name: vm.name,
      state: vmStateToProto(vm.state),
      destination: vm.destination,
      jobId: vm.jobId,
      memoryBytes: vm.memoryBytes,
      attempts: vm.attempts.map((a) => ({
        destination: a.destination,
        blocking: a.blocking.map(findingToProto),
        jobId: a.jobId,
        error: a.error ? failureToProto(a.error) : null,
      })),
    })),
  };
}

/** Which proto field each field of a policy request is (the others are unset: the host's defaults). */
const PROTO_FIELDS: Record<keyof PolicyRequest, keyof ProtoPolicy> = {
  preset: 'preset',
  maxBandwidthMibps: 'maxBandwidthMibps',
  parallelConnections: 'parallelConnections',
  compression: 'compression',
  autoConverge: 'autoConverge',
  postCopy: 'postCopy',
  encrypted: 'encrypted',
  copyStorage: 'copyStorage',
  initialDowntimeMs: 'initialDowntime',
  schedule: 'schedule',
  completionTimeoutSPerGib: 'completionTimeoutPerGib',
  stallTimeoutS: 'stallTimeout',
  queueTimeoutS: 'queueTimeout',
  postcopyRecoveryTimeoutS: 'postcopyRecoveryTimeout',
};

/** A policy as requested: only the fields the caller set. */
export function policyRequestToProto(request: PolicyRequest): ProtoPolicy {
  const full = policyToProto({ ...BUILTIN_DEFAULTS, schedule: [], ...request });
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(request) as (keyof PolicyRequest)[]) {
    if (request[key] === undefined) continue;
    const field = PROTO_FIELDS[key];
    out[field] = full[field];
  }
  return out as ProtoPolicy;
}
