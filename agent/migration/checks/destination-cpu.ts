/**
 * The guest's CPU against this host, with libvirt's own comparison
 * (virConnectCompareHypervisorCPU: what the hypervisor can give a guest of
 * this virt type, emulator and machine, not the bare host CPU). A guest with
 * a named model (custom mode; host-model is expanded to one in a running
 * guest's XML) needs a host that provides every feature it requires.
 *
 * host-passthrough and maximum give the guest the host's own CPU, which the
 * guest keeps seeing after a migration: the destination's must be the same
 * (libvirt's documentation of the CPU modes warns that migration is safe
 * only between identical hosts), so the source's host CPU is compared and
 * must be identical, not merely a superset.
 */
import type { CpuVerdict, GuestQuery, GuestRequirements } from '../ports.js';
import type { Findings } from './findings.js';

const HOST_CPU_MODES = new Set(['host-passthrough', 'maximum']);

export async function checkGuestCpu(
  guest: GuestRequirements,
  query: GuestQuery,
  compare: (q: GuestQuery, cpuXml: string) => Promise<CpuVerdict>,
  out: Findings,
): Promise<void> {
  const { cpu } = guest;
  if (HOST_CPU_MODES.has(cpu.mode)) {
    if (!guest.sourceHostCpuXml) {
      out.warn('CHECK_INCOMPLETE', `the VM's CPU is ${cpu.mode}, and the source did not describe its host CPU: the CPUs were not compared`);
      return;
    }
    const verdict = await compare(query, guest.sourceHostCpuXml);
    if (verdict.result === 'identical') return;
    if (verdict.result === 'unknown') return notCompared(verdict.detail, out);
    const how = 'detail' in verdict ? verdict.detail : 'it has features the source lacks';
    out.block(
      'CPU_INCOMPATIBLE',
      `the VM's CPU is ${cpu.mode}, and the destination's CPU differs from the source's (${how}): migrate it between identical hosts, or give it a CPU model both hosts provide (mode custom)`,
    );
    return;
  }
  if (!cpu.xml || !cpu.model) return; // nothing named: QEMU's default model, which every host of the architecture gives
  const verdict = await compare(query, cpu.xml);
  if (verdict.result === 'incompatible') {
    out.block(
      'CPU_INCOMPATIBLE',
      `the destination cannot give the VM its CPU (model ${cpu.model}): ${verdict.detail}: choose a destination that provides it, or a CPU model both hosts provide`,
    );
  } else if (verdict.result === 'unknown') {
    notCompared(verdict.detail, out);
  }
}

function notCompared(detail: string, out: Findings): void {
  out.warn('CHECK_INCOMPLETE', `libvirt could not compare the VM's CPU with the destination's (${detail}): the CPUs were not compared`);
}
