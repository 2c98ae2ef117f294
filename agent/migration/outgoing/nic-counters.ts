/**
 * Which NIC carried the copy: the transmit counters of the migration and
 * management interfaces before the copy, compared afterwards. The baseline
 * is plain data so the journal keeps it: the kernel's counters survive an
 * agent restart, so a reattached job still reports exact figures.
 */
import type { HostNetwork } from '../ports.js';

export interface NicBaseline {
  migrationInterface: string;
  managementInterface: string;
  migrationTxBytes: number;
  managementTxBytes: number;
}

export interface NicTraffic {
  bytesOnMigrationNic: number;
  bytesOnManagementNic: number;
}

export async function readNicBaseline(network: HostNetwork, migrationInterface: string): Promise<NicBaseline> {
  const managementInterface = network.managementInterface() ?? migrationInterface;
  return {
    migrationInterface,
    managementInterface,
    migrationTxBytes: await txBytes(network, migrationInterface),
    managementTxBytes: await txBytes(network, managementInterface),
  };
}

export async function nicTrafficSince(network: HostNetwork, baseline: NicBaseline): Promise<NicTraffic> {
  return {
    bytesOnMigrationNic: Math.max(0, (await txBytes(network, baseline.migrationInterface)) - baseline.migrationTxBytes),
    bytesOnManagementNic: Math.max(0, (await txBytes(network, baseline.managementInterface)) - baseline.managementTxBytes),
  };
}

/** A counter that cannot be read counts as 0: the figures are a report, not a gate. */
function txBytes(network: HostNetwork, iface: string): Promise<number> {
  return network.txBytes(iface).catch(() => 0);
}
