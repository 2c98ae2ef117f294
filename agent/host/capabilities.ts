/**
 * Assembles the static facts an engine schedules from: the system's (through
 * SystemProbe), libvirt's (through HypervisorInfo) and the agent's own
 * (configuration, limits in force). A part that cannot be read becomes a
 * warning, not a failure: an engine still learns what is known.
 */
import os from 'node:os';
import type { AgentConfig, MigrationNetworkSpec } from '../config/agent-config.js';
import type { HypervisorInfo, LimitsInForce } from './host-facts.js';
import { findManagementNic, findMigrationNic, type LinkStates } from './migration-nic.js';
import type { LinkState } from '../migration/index.js';
import type { CpuFacts, NicInfo, SystemProbe } from './system-probe.js';
import { errorMessage } from '../../shared/errors.js';

export interface CapabilitiesDeps {
  config: AgentConfig;
  system: SystemProbe;
  hypervisor: HypervisorInfo;
  /** Limits in force now (default: the configured ones). */
  limits?: () => LimitsInForce;
  /** The firewall backend in force (default: the configured one). */
  firewallBackend?: () => string;
  /** Why that backend (firewall.backend "auto" chose it, or the configuration named it). */
  firewallBackendReason?: () => string;
  /** What the host's own firewall does to the pinholes (e.g. an input chain that drops them). */
  firewallWarnings?: () => Promise<string[]>;
  /** A NIC with the devices it is stacked on (default: its operstate alone). */
  linkState?: (nic: string) => Promise<LinkState>;
  /** migration.network in force (a reload may change it; default: the configuration's). */
  migrationNetwork?: () => MigrationNetworkSpec | null;
  ferryVersion: string;
}

export interface NicFacts extends NicInfo {
  migration: boolean;
  management: boolean;
}

export interface HostCapabilitiesFacts {
  hostname: string;
  hostUuid: string;
  ferryVersion: string;
  cpu: CpuFacts;
  memoryBytes: number;
  nics: NicFacts[];
  migrationNetwork: { cidr: string; interface: string; address: string; up: boolean; link: string; downReason: string };
  libvirtVersion: string;
  qemuVersion: string;
  kvmAvailable: boolean;
  firewallBackend: string;
  firewallBackendReason: string;
  limits: { maxOutgoing: number; maxIncoming: number; portRangeFirst: number; portRangeLast: number };
  insecure: boolean;
  warnings: string[];
}

export async function collectCapabilities(deps: CapabilitiesDeps): Promise<HostCapabilitiesFacts> {
  const { config, system, hypervisor } = deps;
  const warnings: string[] = [];
  if (config.tls.insecure)
    warnings.push('INSECURE: gRPC runs without TLS or client authentication (tls.insecure: true); never in production');

  // libvirt may be down; each of its facts fails on its own.
  const fromLibvirt = async (what: string, read: () => Promise<string>, fallback = ''): Promise<string> => {
    try {
      return await read();
    } catch (err) {
      warnings.push(`libvirt: cannot read the ${what}: ${errorMessage(err)}`);
      return fallback;
    }
  };
  const firewallWarnings = async (): Promise<string[]> => {
    try {
      return (await deps.firewallWarnings?.()) ?? [];
    } catch (err) {
      return [`firewall: cannot check the host's firewall: ${errorMessage(err)}`];
    }
  };
  const [cpu, memory, nics, kvmAvailable, hostname, hostUuid, libvirtVersion, qemuVersion, firewall] = await Promise.all([
    system.cpu(),
    system.memory(),
    system.nics(),
    system.kvmAvailable(),
    fromLibvirt('host name', () => hypervisor.hostname(), os.hostname()),
    fromLibvirt('host UUID', () => hypervisor.hostUuid()),
    fromLibvirt('libvirt version', () => hypervisor.libvirtVersion()),
    fromLibvirt('QEMU version', () => hypervisor.qemuVersion()),
    firewallWarnings(),
  ]);
  warnings.push(...firewall);

  const migration = findMigrationNic(
    deps.migrationNetwork ? deps.migrationNetwork() : config.migration.network,
    nics,
    await linkStates(nics, deps.linkState),
  );
  warnings.push(...migration.warnings);
  const management = findManagementNic(config.listen.address, nics);
  if (migration.nic && management && migration.nic.name === management.name) {
    warnings.push(`the migration network and the management address share ${management.name}: migrations compete with management traffic`);
  }
  if (!kvmAvailable) warnings.push('/dev/kvm is missing or not usable by ferryd: guests cannot use KVM acceleration');

  const limits = deps.limits?.() ?? config.limits;
  return {
    hostname,
    hostUuid,
    ferryVersion: deps.ferryVersion,
    cpu,
    memoryBytes: memory.totalBytes,
    nics: nics.map((nic) => ({ ...nic, migration: nic.name === migration.nic?.name, management: nic.name === management?.name })),
    migrationNetwork: {
      cidr: migration.cidr,
      interface: migration.nic?.name ?? '',
      address: migration.address,
      up: migration.up,
      link: migration.link,
      downReason: migration.downReason,
    },
    libvirtVersion,
    qemuVersion,
    kvmAvailable,
    firewallBackend: deps.firewallBackend?.() ?? config.firewall.backend,
    firewallBackendReason: deps.firewallBackendReason?.() ?? '',
    limits: {
      maxOutgoing: limits.maxOutgoing,
      maxIncoming: limits.maxIncoming,
      portRangeFirst: config.migration.portRange.first,
      portRangeLast: config.migration.portRange.last,
    },
    insecure: config.tls.insecure,
    warnings,
  };
}

/** Every NIC's link state (a few sysfs reads each); a NIC that cannot be read is judged by its operstate. */
async function linkStates(nics: readonly NicInfo[], read: CapabilitiesDeps['linkState']): Promise<LinkStates> {
  if (!read) return new Map();
  const states = await Promise.all(nics.map(async (nic) => [nic.name, await read(nic.name).catch(() => undefined)] as const));
  return new Map(states.filter((entry): entry is readonly [string, LinkState] => entry[1] !== undefined));
}
