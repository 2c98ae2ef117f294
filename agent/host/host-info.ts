/**
 * The Host service's core: capabilities, stats and the VM list, from the
 * ports in host-facts.ts and system-probe.ts. No gRPC here; the RPC layer
 * (agent/rpc/host-service.ts) only converts.
 */
import type { AgentConfig, MigrationNetworkSpec } from '../config/agent-config.js';
import { watchAgentProcess, type AgentProcessProbe } from './agent-process.js';
import { collectCapabilities, type HostCapabilitiesFacts } from './capabilities.js';
import type { HypervisorInfo, LimitsInForce, MigrationActivity, VmSummary } from './host-facts.js';
import { HostStatsCollector, type HostStatsFacts } from './stats.js';
import type { SystemProbe } from './system-probe.js';
import { ferryVersion } from './version.js';
import type { LinkState, MigrationStatus } from '../migration/index.js';

export interface HostInfoDeps {
  config: AgentConfig;
  system: SystemProbe;
  hypervisor: HypervisorInfo;
  migrations: MigrationActivity;
  /** Limits in force now (default: the configured ones). */
  limits?: () => LimitsInForce;
  /** The firewall backend actually in use (default: the configured one). */
  firewallBackend?: () => string;
  /** Why that backend. */
  firewallBackendReason?: () => string;
  /** The host firewall's effect on the pinholes, as warnings. */
  firewallWarnings?: () => Promise<string[]>;
  /** A NIC with the devices it is stacked on (default: its operstate alone). */
  linkState?: (nic: string) => Promise<LinkState>;
  /** migration.network in force (default: the configuration's). */
  migrationNetwork?: () => MigrationNetworkSpec | null;
  /** Default: package.json's version. */
  ferryVersion?: string;
  /** Background NIC sampling period; 0 disables it (tests). Default 5 s. */
  sampleIntervalMs?: number;
  /** The agent process's own figures (default: this process, measured from now on). */
  agentProcess?: AgentProcessProbe;
}

export interface VmFacts extends VmSummary {
  migrating: boolean;
}

/** The static facts, and the jobs paused in post-copy, oldest pause first (they wait for someone). */
export interface HostCapabilities extends HostCapabilitiesFacts {
  postcopyPaused: MigrationStatus[];
}

export interface HostInfo {
  capabilities(): Promise<HostCapabilities>;
  stats(): Promise<HostStatsFacts>;
  /** Sorted by name. */
  listVms(): Promise<VmFacts[]>;
  /** Stops background sampling and measuring. */
  close(): void;
}

export function createHostInfo(deps: HostInfoDeps): HostInfo {
  const collector = new HostStatsCollector(deps.system, deps.migrations);
  const interval = deps.sampleIntervalMs ?? 5000;
  if (interval > 0) collector.start(interval);
  const agentProcess = deps.agentProcess ?? watchAgentProcess();
  const capabilityDeps = {
    config: deps.config,
    system: deps.system,
    hypervisor: deps.hypervisor,
    ferryVersion: deps.ferryVersion ?? ferryVersion(),
    ...(deps.limits ? { limits: deps.limits } : {}),
    ...(deps.firewallBackend ? { firewallBackend: deps.firewallBackend } : {}),
    ...(deps.firewallBackendReason ? { firewallBackendReason: deps.firewallBackendReason } : {}),
    ...(deps.firewallWarnings ? { firewallWarnings: deps.firewallWarnings } : {}),
    ...(deps.linkState ? { linkState: deps.linkState } : {}),
    ...(deps.migrationNetwork ? { migrationNetwork: deps.migrationNetwork } : {}),
  };
  return {
    capabilities: async () => ({ ...(await collectCapabilities(capabilityDeps)), postcopyPaused: pausedOldestFirst(deps.migrations) }),
    stats: async () => ({ ...(await collector.stats()), agent: agentProcess.facts() }),
    async listVms() {
      const vms = await deps.hypervisor.listVms();
      return vms
        .map((vm) => ({ ...vm, migrating: deps.migrations.isMigrating(vm.id) }))
        .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
    },
    close: () => {
      collector.stop();
      agentProcess.stop();
    },
  };
}

function pausedOldestFirst(migrations: MigrationActivity): MigrationStatus[] {
  const pausedAt = (s: MigrationStatus) => s.recovery?.pausedAt ?? s.startedAt;
  return [...migrations.pausedInPostcopy()].sort((a, b) => pausedAt(a) - pausedAt(b) || a.jobId.localeCompare(b.jobId));
}
