/**
 * The host-side questions of the checks before a migration, asked of libvirt:
 * does it offer a guest like this (domain capabilities), can it give it this
 * CPU (compareHypervisorCPU), how much memory and how many huge pages are
 * free, which networks are active. libvirt's refusals are answers here, not
 * errors; a daemon that is away still throws (and is translated by the caller).
 */
import { constants as c, LibvirtError, type LibvirtClient } from '../libvirt/index.js';
import type { CpuVerdict, GuestQuery, GuestSupport } from '../migration/index.js';
import { hostModelCpuOf } from './domain-capabilities.js';

/** What libvirt answers when the query itself names something this host lacks (an accel, an emulator, a machine type). */
const REFUSALS: ReadonlySet<number> = new Set([
  c.VIR_ERR_INVALID_ARG,
  c.VIR_ERR_CONFIG_UNSUPPORTED,
  c.VIR_ERR_SYSTEM_ERROR, // "Cannot check QEMU binary ...: No such file or directory"
  c.VIR_ERR_OPERATION_FAILED,
]);

/** What libvirt answers when it cannot compare CPUs at all (no CPU model for that virt type, a definition it cannot read). */
const CANNOT_COMPARE: ReadonlySet<number> = new Set([
  c.VIR_ERR_OPERATION_UNSUPPORTED,
  c.VIR_ERR_NO_SUPPORT,
  c.VIR_ERR_XML_ERROR,
  ...REFUSALS,
]);

function libvirtQuery(query: GuestQuery) {
  return { virttype: query.virtType, arch: query.arch, machine: query.machine ?? null, emulator: query.emulator ?? null };
}

function codeOf(err: unknown): number | undefined {
  return err instanceof LibvirtError ? err.code : undefined;
}

export async function guestSupport(client: LibvirtClient, query: GuestQuery): Promise<GuestSupport> {
  try {
    return { offered: true, hostCpuXml: hostModelCpuOf(await client.connectGetDomainCapabilities(libvirtQuery(query))) };
  } catch (err) {
    const code = codeOf(err);
    if (code !== undefined && REFUSALS.has(code)) return { offered: false, refusal: (err as Error).message };
    throw err;
  }
}

export async function compareCpu(client: LibvirtClient, query: GuestQuery, cpuXml: string): Promise<CpuVerdict> {
  try {
    // FAIL_INCOMPATIBLE: an incompatible CPU is an error whose message names the missing features.
    const result = await client.connectCompareHypervisorCPU(libvirtQuery(query), cpuXml, c.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE);
    if (result === c.VIR_CPU_COMPARE_IDENTICAL) return { result: 'identical' };
    if (result === c.VIR_CPU_COMPARE_SUPERSET) return { result: 'superset' };
    return { result: 'incompatible', detail: 'libvirt found the CPUs incompatible' };
  } catch (err) {
    const code = codeOf(err);
    if (code === c.VIR_ERR_CPU_INCOMPATIBLE) return { result: 'incompatible', detail: (err as Error).message };
    if (code !== undefined && CANNOT_COMPARE.has(code)) return { result: 'unknown', detail: (err as Error).message };
    throw err;
  }
}

/** Memory a new guest can have without swapping, as libvirt reports the host's (free, buffers, page cache; KiB). */
export async function availableMemory(client: LibvirtClient): Promise<number> {
  const stats = await client.nodeGetMemoryStats(c.VIR_NODE_MEMORY_STATS_ALL_CELLS);
  const kib = ['free', 'buffers', 'cached'].reduce((sum, field) => sum + Number(stats[field] ?? 0n), 0);
  return kib * 1024;
}

/** Free huge pages of one size on the whole host (start cell -1: libvirt's host-wide figure). */
export async function freeHugepages(client: LibvirtClient, pageBytes: number): Promise<number> {
  const [free] = await client.nodeGetFreePages([Math.round(pageBytes / 1024)], -1, 1);
  return Number(free ?? 0n);
}

export async function activeNetworks(client: LibvirtClient): Promise<string[]> {
  return client.connectListAllNetworks(c.VIR_CONNECT_LIST_NETWORKS_ACTIVE);
}
