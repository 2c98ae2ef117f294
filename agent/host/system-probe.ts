/**
 * The port to the operating system's facts (CPU, memory, NICs, counters).
 * The real implementation reads them through systeminformation
 * (systeminformation-probe.ts); unit tests use fixed values.
 */

export interface CpuFacts {
  /** e.g. "Intel Xeon Gold 6338". */
  model: string;
  /** e.g. "GenuineIntel" or "Intel". */
  vendor: string;
  /** Physical cores. */
  cores: number;
  /** Logical CPUs. */
  threads: number;
  flags: string[];
}

export interface MemoryFacts {
  totalBytes: number;
  /** In use by processes, without caches and buffers. */
  usedBytes: number;
  /** Available for new guests without swapping (the kernel's MemAvailable). */
  availableBytes: number;
}

export interface NicInfo {
  name: string;
  /** CIDR form, every family, e.g. ["198.19.0.2/24", "fe80::1/64"]. */
  addresses: string[];
  mac: string;
  /** Mbit/s, 0 when the driver reports none. */
  speedMbps: number;
  mtu: number;
  /** The kernel's operstate: "up", "down", "unknown", "lowerlayerdown", … */
  state: string;
  /** Carries the default route. */
  isDefault: boolean;
}

export interface NicCounters {
  name: string;
  rxBytes: number;
  txBytes: number;
}

export interface SystemProbe {
  cpu(): Promise<CpuFacts>;
  memory(): Promise<MemoryFacts>;
  /** Every NIC but loopback, including ones that are down. */
  nics(): Promise<NicInfo[]>;
  nicCounters(): Promise<NicCounters[]>;
  /** CPU load over all CPUs, 0..100, since the previous call. */
  cpuPercent(): Promise<number>;
  /** /dev/kvm exists and this process may open it. */
  kvmAvailable(): Promise<boolean>;
}

/**
 * "unknown" is what virtual NICs without carrier detection report while they
 * work, so only an explicit non-up state counts as down.
 */
export function isUp(state: string): boolean {
  return state === 'up' || state === 'unknown';
}
