/**
 * Follows the migration NIC for host events, gRPC health and metrics: which
 * interface carries the migration network now (the configured one, as the
 * configuration in force names it, so a reload is followed), and whether it
 * and the devices it is stacked on can carry traffic (agent/network's link
 * state: a VLAN on a bond with no slave up is down). Read every interval:
 * one small set of sysfs reads a second costs nothing next to a netlink
 * socket to keep, and a migration NIC seldom changes state.
 */
import { cidrContains } from '../../shared/cidr.js';
import { isLinkLocal } from '../../shared/net.js';
import type { MigrationNetworkSpec } from '../config/agent-config.js';
import type { HostNetwork } from '../migration/index.js';

export interface MigrationLink {
  /** false: no migration network is configured (migrations use the management network). */
  configured: boolean;
  /** The interface carrying it; '' when none is found. */
  nic: string;
  up: boolean;
  /** e.g. "bond0.100 (vlan) on bond0 (bond: eth0 up, eth1 down)"; '' without a NIC. */
  description: string;
  /** Why it cannot carry migrations; '' when up or not configured. */
  downReason: string;
}

/** The migration link as it is now. */
export async function readMigrationLink(
  spec: MigrationNetworkSpec | null,
  network: Pick<HostNetwork, 'configuredAddresses' | 'linkState'>,
): Promise<MigrationLink> {
  if (spec === null) return { configured: false, nic: '', up: false, description: '', downReason: '' };
  let nic = spec.kind === 'interface' ? spec.name : '';
  if (spec.kind === 'cidr') {
    nic = (await network.configuredAddresses()).find((a) => cidrContains(spec.cidr, a.address))?.interface ?? '';
    if (!nic) return { configured: true, nic, up: false, description: '', downReason: `no interface has an address in ${spec.cidr.text}` };
  }
  const state = await network.linkState(nic);
  return { configured: true, nic, up: state.up, description: state.description, downReason: state.downReason };
}

/** This host's addresses on the migration network (link-local ones cannot be dialled without a zone). */
export function migrationAddresses(spec: MigrationNetworkSpec | null, local: ReturnType<HostNetwork['localAddresses']>): string[] {
  if (spec === null) return [];
  const inside = local.filter((a) => (spec.kind === 'cidr' ? cidrContains(spec.cidr, a.address) : a.interface === spec.name));
  return inside.map((a) => a.address).filter((a) => !isLinkLocal(a));
}

/** Calls back with the link at once and after every change; returns the stop. */
export function followMigrationLink(
  spec: () => MigrationNetworkSpec | null,
  network: Pick<HostNetwork, 'configuredAddresses' | 'linkState'>,
  onChange: (link: MigrationLink) => void,
  intervalMs = 1000,
): () => void {
  let last = '';
  let stopped = false;
  const poll = async () => {
    const link = await readMigrationLink(spec(), network).catch(
      (err: unknown): MigrationLink => ({
        configured: true,
        nic: '',
        up: false,
        description: '',
        downReason: `cannot be read: ${String(err)}`,
      }),
    );
    const seen = JSON.stringify(link);
    if (stopped || seen === last) return;
    last = seen;
    onChange(link);
  };
  void poll();
  const timer = setInterval(() => void poll(), intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
