/**
 * A maintenance for a person: its phase, destinations and lanes, then one
 * row per VM with its state, where it goes or went, its job, and why it
 * stayed (each destination's blocking findings, or each failed migration's
 * error).
 */
import type { Maintenance__Output } from '../../shared/generated/ferry/v1/Maintenance.js';
import type { MaintenanceVm__Output } from '../../shared/generated/ferry/v1/MaintenanceVm.js';
import { msFromProtoTime } from '../../shared/proto-time.js';
import { enumName, fields, table } from './output.js';

export function phaseOf(m: Maintenance__Output | null | undefined): string {
  return m ? enumName(m.phase, 'MAINTENANCE_PHASE_') : 'off';
}

export function maintenanceText(m: Maintenance__Output | null): string {
  const phase = phaseOf(m);
  if (!m || (phase === 'off' && !m.enteredTime)) return 'maintenance: off (the host takes incoming migrations)';
  const time = (t: Maintenance__Output['enteredTime']) => (t ? new Date(msFromProtoTime(t)).toISOString() : '');
  const counts = new Map<string, number>();
  for (const vm of m.vms) counts.set(vmState(vm), (counts.get(vmState(vm)) ?? 0) + 1);
  const head = fields([
    ['maintenance', phase === 'off' ? 'off (left; incoming migrations accepted again)' : phase],
    ['entered', time(m.enteredTime)],
    ...(m.drainedTime ? [['drain ended', time(m.drainedTime)] as const] : []),
    ['destinations', m.destinations.map((d) => (d.dstqemu ? `${d.host} (dstqemu ${d.dstqemu})` : d.host)).join(', ')],
    ...(m.migrationNetwork ? [['network', m.migrationNetwork] as const] : []),
    ['max parallel', String(m.maxParallel)],
    ['VMs', `${m.vms.length}${m.vms.length > 0 ? `: ${[...counts].map(([state, n]) => `${n} ${state}`).join(', ')}` : ''}`],
  ]);
  if (m.vms.length === 0) return head;
  const rows = m.vms.map((vm) => [vm.name, vmState(vm), vm.destination, vm.jobId, reasonOf(vm)]);
  return `${head}\n\n${table(['VM', 'STATE', 'DESTINATION', 'JOB', 'REASON'], rows)}`;
}

function vmState(vm: MaintenanceVm__Output): string {
  return enumName(vm.state, 'MAINTENANCE_VM_STATE_');
}

/** Why a VM is still here (or what it met on its way): every destination tried, in order. */
function reasonOf(vm: MaintenanceVm__Output): string {
  if (vmState(vm) === 'gone') return 'stopped or left by other means';
  return vm.attempts
    .map((a) => {
      if (a.error) return `${a.destination}: ${a.jobId ? `job ${a.jobId} ` : ''}${a.error.message}`;
      const findings = a.blocking.map((f) => `${enumName(f.reason, 'MIGRATION_CHECK_REASON_').replaceAll('_', ' ')}: ${f.message}`);
      return `${a.destination}: ${findings.join('; ')}`;
    })
    .join(' | ');
}
