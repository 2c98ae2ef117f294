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
  // Both at once: the baseline is read between Migrate and libvirt's perform.
  const [migrationTxBytes, managementTxBytes] = await Promise.all([
    txBytes(network, migrationInterface),
    txBytes(network, managementInterface),
  ]);
  return { migrationInterface, managementInterface, migrationTxBytes, managementTxBytes };
}

export async function nicTrafficSince(network: HostNetwork, baseline: NicBaseline): Promise<NicTraffic> {
  const [migration, management] = await Promise.all([
    txBytes(network, baseline.migrationInterface),
    txBytes(network, baseline.managementInterface),
  ]);
  return {
    bytesOnMigrationNic: Math.max(0, migration - baseline.migrationTxBytes),
    bytesOnManagementNic: Math.max(0, management - baseline.managementTxBytes),
  };
}

/** A counter that cannot be read counts as 0: the figures are a report, not a gate. */
function txBytes(network: HostNetwork, iface: string): Promise<number> {
  return network.txBytes(iface).catch(() => 0);
}
