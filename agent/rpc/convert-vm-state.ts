/**
 * A VM's state as the contract's VmState enum (libvirt's virDomainState plus
 * ABSENT and UNKNOWN), from the core's and the host facts' names of it.
 */
import type { VmState as ProtoVmState } from '../../shared/generated/ferry/v1/VmState.js';

const BY_NAME: Readonly<Record<string, ProtoVmState>> = {
  nostate: 'VM_STATE_UNSPECIFIED',
  running: 'VM_STATE_RUNNING',
  blocked: 'VM_STATE_BLOCKED',
  paused: 'VM_STATE_PAUSED',
  shutdown: 'VM_STATE_SHUTDOWN',
  shutoff: 'VM_STATE_SHUTOFF',
  crashed: 'VM_STATE_CRASHED',
  // The hypervisor port calls VIR_DOMAIN_PMSUSPENDED "suspended", the host facts "pmsuspended".
  suspended: 'VM_STATE_PMSUSPENDED',
  pmsuspended: 'VM_STATE_PMSUSPENDED',
  absent: 'VM_STATE_ABSENT',
};

/** Any other name (the port's "other", the facts' "unknown") is UNKNOWN. */
export function vmStateToProto(name: string): ProtoVmState {
  return BY_NAME[name] ?? 'VM_STATE_UNKNOWN';
}
