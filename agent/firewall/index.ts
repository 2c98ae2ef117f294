/**
 * The firewall module's surface for the rest of the agent: pick a backend from
 * configuration and get a Firewall. At start-up call reconcile() (installs the
 * chain and jump, removes what a previous run left); on shutdown call
 * dispose(); the installer's --uninstall calls uninstall().
 */
import { FerryError } from '../../shared/errors.js';
import type { Firewall } from './firewall.js';
import { createIptablesFirewall, type IptablesFirewallOptions } from './iptables/iptables-firewall.js';
import { createNoneFirewall } from './none-firewall.js';

export type {
  AdoptablePinhole,
  AddressFamily,
  Firewall,
  FirewallBackendName,
  Pinhole,
  PortRange,
  ReconcileReport,
} from './firewall.js';
export { DEFAULT_PORT_RANGE } from './firewall.js';
export { defaultLocalAddresses } from './addresses.js';
export { bindProbe, type PortProbe } from './port-allocator.js';
export type { FirewallLogger, PinholeFirewallOptions } from './pinhole-firewall.js';
export { PinholeFirewall } from './pinhole-firewall.js';
export { DEFAULT_CHAIN } from './iptables/iptables-firewall.js';
export { ExecIptablesRunner, FlushTables, type IptablesRunner } from './iptables/runner.js';

export interface FirewallConfig extends IptablesFirewallOptions {
  /** "iptables" (default): Ferry closes the migration ports and opens pinholes. "none": the operator's firewall. */
  backend?: 'iptables' | 'none';
}

export function createFirewall(config: FirewallConfig = {}): Firewall & { reservedPorts(): number[] } {
  const backend = config.backend ?? 'iptables';
  switch (backend) {
    case 'iptables':
      return createIptablesFirewall(config);
    case 'none':
      return createNoneFirewall(config);
    default:
      throw new FerryError('INVALID_ARGUMENT', `firewall: ${JSON.stringify(backend)} is not a firewall backend; use "iptables" or "none"`, {
        field: 'firewall',
      });
  }
}
