/**
 * The agent's configuration as the rest of the agent sees it: typed, with
 * units in the names, frozen. Built only from values validateConfig has
 * accepted, so nothing downstream re-checks them.
 */
import type { COMPRESSIONS, COPY_STORAGE, FIREWALL_BACKENDS, FieldKey, FieldValue, LOG_LEVELS, PRESETS } from './fields.js';
import { parseCidr, type Cidr } from '../../shared/cidr.js';

export type LogLevel = (typeof LOG_LEVELS)[number];
export type FirewallBackend = (typeof FIREWALL_BACKENDS)[number];
export type CompressionName = (typeof COMPRESSIONS)[number];
export type CopyStorageName = (typeof COPY_STORAGE)[number];
export type PresetName = (typeof PRESETS)[number];

/** Where a network of this host is (the migration network, the display network): a block of addresses, or a named NIC. */
export type NetworkSpec = { kind: 'cidr'; cidr: Cidr } | { kind: 'interface'; name: string };
export type MigrationNetworkSpec = NetworkSpec;

/** Host defaults for MigrationPolicy fields a request leaves unset. */
export interface PolicyDefaults {
  preset: PresetName;
  maxBandwidthMibps: number;
  parallelConnections: number;
  compression: CompressionName;
  autoConverge: boolean;
  postCopy: boolean;
  encrypted: boolean;
  copyStorage: CopyStorageName;
  initialDowntimeMs: number;
  completionTimeoutSPerGib: number;
  stallTimeoutS: number;
  queueTimeoutS: number;
  /** How long a broken post-copy is resumed automatically; 0 = only by RecoverMigration. */
  postcopyRecoveryTimeoutS: number;
}

export interface AgentConfig {
  listen: { address: string; port: number };
  /** With insecure false the three files exist and are readable (checked at load). */
  tls: { insecure: boolean; caFile: string; certFile: string; keyFile: string };
  libvirt: {
    /** The local libvirtd (or virtqemud) socket. */
    socket: string;
    /** The P2P destination URI with {host} to fill, e.g. qemu+tls://{host}/system. */
    dconnuriTemplate: string;
  };
  migration: {
    /** null when none is configured (migrations then use the management network). */
    network: MigrationNetworkSpec | null;
    /** Inclusive; first <= last. */
    portRange: { first: number; last: number };
  };
  display: {
    /**
     * Where this host's VNC and SPICE consoles listen: a guest whose console
     * listened on an address of its source listens here on this network's
     * address after a migration. null: no display network.
     */
    network: NetworkSpec | null;
  };
  firewall: { backend: FirewallBackend; pinholeTtlS: number };
  limits: { maxOutgoing: number; maxIncoming: number };
  policy: PolicyDefaults;
  /** Where PrepareIncoming may create disk images for copy_storage (absolute directories). */
  storage: { imageDirectories: string[] };
  jobs: { retentionS: number; maxRetained: number };
  stateDirectory: string;
  log: { level: LogLevel };
  /** The Prometheus endpoint (GET /metrics, plain HTTP): loopback unless an address a scraper reaches is given. */
  metrics: { enabled: boolean; address: string; port: number };
  /** The file the values came from (null: defaults, environment and flags only). */
  source: { file: string | null };
}

/** The typed, camel-cased tree the lead's code consumes. */
export function buildAgentConfig(values: Readonly<Record<FieldKey, FieldValue>>, file: string | null): AgentConfig {
  const str = (key: FieldKey) => values[key] as string;
  const num = (key: FieldKey) => values[key] as number;
  const flag = (key: FieldKey) => values[key] as boolean;
  const config: AgentConfig = {
    listen: { address: str('listen.address'), port: num('listen.port') },
    tls: {
      insecure: flag('tls.insecure'),
      caFile: str('tls.ca_file'),
      certFile: str('tls.cert_file'),
      keyFile: str('tls.key_file'),
    },
    libvirt: { socket: str('libvirt.socket'), dconnuriTemplate: str('libvirt.destination_uri') },
    migration: {
      network: networkSpec('migration.network', str('migration.network')),
      portRange: { first: num('migration.port_range.first'), last: num('migration.port_range.last') },
    },
    display: { network: networkSpec('display.network', str('display.network')) },
    firewall: { backend: str('firewall.backend') as FirewallBackend, pinholeTtlS: num('firewall.pinhole_ttl_s') },
    limits: { maxOutgoing: num('limits.max_outgoing'), maxIncoming: num('limits.max_incoming') },
    policy: {
      preset: str('policy.preset') as PresetName,
      maxBandwidthMibps: num('policy.max_bandwidth_mibps'),
      parallelConnections: num('policy.parallel_connections'),
      compression: str('policy.compression') as CompressionName,
      autoConverge: flag('policy.auto_converge'),
      postCopy: flag('policy.post_copy'),
      encrypted: flag('policy.encrypted'),
      copyStorage: str('policy.copy_storage') as CopyStorageName,
      initialDowntimeMs: num('policy.initial_downtime_ms'),
      completionTimeoutSPerGib: num('policy.completion_timeout_s_per_gib'),
      stallTimeoutS: num('policy.stall_timeout_s'),
      queueTimeoutS: num('policy.queue_timeout_s'),
      postcopyRecoveryTimeoutS: num('policy.postcopy_recovery_timeout_s'),
    },
    storage: { imageDirectories: str('storage.image_directories').split(':').filter(Boolean) },
    jobs: { retentionS: num('jobs.retention_s'), maxRetained: num('jobs.max_retained') },
    stateDirectory: str('state_directory'),
    log: { level: str('log.level') as LogLevel },
    metrics: { enabled: flag('metrics.enabled'), address: str('metrics.address'), port: num('metrics.port') },
    source: { file },
  };
  return deepFreeze(config);
}

function networkSpec(key: FieldKey, value: string): NetworkSpec | null {
  if (value === '') return null;
  if (!value.includes('/')) return { kind: 'interface', name: value };
  const cidr = parseCidr(value);
  if (typeof cidr === 'string') throw new Error(`unvalidated ${key}: ${cidr}`);
  return { kind: 'cidr', cidr };
}

/** "198.18.0.0/24", "eth0", or "" for none: a network as ferryd.yaml names it. */
export function networkText(spec: NetworkSpec | null): string {
  return spec === null ? '' : spec.kind === 'cidr' ? spec.cidr.text : spec.name;
}

/** Fills a {host} template: IPv6 literals need brackets inside a URI. */
export function dconnuriFor(config: AgentConfig, host: string): string {
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return config.libvirt.dconnuriTemplate.replaceAll('{host}', bracketed);
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
