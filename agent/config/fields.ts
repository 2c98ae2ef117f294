/**
 * Every key of ferryd.yaml, by dotted path, with its type, default and what
 * it allows. This table is the single source for validation, for the
 * FERRY_… environment overrides and for `--set key=value`; the commented
 * example (systemd/ferryd.example.yaml) is checked against it by a test so the
 * two cannot drift apart.
 */
import { checkDirectoryList, checkDisplayNetwork, checkListenAddress, checkMigrationNetwork, checkUriTemplate } from './checks.js';

export interface IntField {
  kind: 'int';
  default: number;
  min: number;
  max: number;
}
export interface BoolField {
  kind: 'bool';
  default: boolean;
}
export interface EnumField {
  kind: 'enum';
  default: string;
  values: readonly string[];
}
export interface StringField {
  kind: 'string';
  default: string;
  /** Extra rule for a string: the problem, or undefined when it is fine. */
  check?: (value: string) => string | undefined;
}
/** An absolute file system path. */
export interface PathField {
  kind: 'path';
  default: string;
}
export type FieldSpec = IntField | BoolField | EnumField | StringField | PathField;
export type FieldValue = number | boolean | string;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export const FIREWALL_BACKENDS = ['auto', 'nftables', 'iptables', 'none'] as const;
export const COMPRESSIONS = ['none', 'zlib', 'zstd', 'xbzrle'] as const;
export const COPY_STORAGE = ['none', 'all', 'incremental'] as const;
/** The presets of the contract (MigrationPolicy.preset); "" is the host's own policy. */
export const PRESETS = ['', 'minimal-downtime', 'post-copy-when-stalled', 'suspend-when-stalled'] as const;

const port = (d: number): IntField => ({ kind: 'int', default: d, min: 1, max: 65535 });
const count = (d: number, max: number, min = 0): IntField => ({ kind: 'int', default: d, min, max });
const bool = (d: boolean): BoolField => ({ kind: 'bool', default: d });
const DAY_S = 86_400;

export const FIELDS = {
  'listen.address': { kind: 'string', default: '0.0.0.0', check: checkListenAddress },
  'listen.port': port(54321),
  'tls.insecure': bool(false),
  'tls.ca_file': { kind: 'path', default: '/etc/ferry/pki/ca.pem' },
  'tls.cert_file': { kind: 'path', default: '/etc/ferry/pki/ferryd.pem' },
  'tls.key_file': { kind: 'path', default: '/etc/ferry/pki/ferryd-key.pem' },
  'libvirt.socket': { kind: 'path', default: '/run/libvirt/libvirt-sock' },
  'libvirt.destination_uri': { kind: 'string', default: 'qemu+tls://{host}/system', check: checkUriTemplate },
  'migration.network': { kind: 'string', default: '', check: checkMigrationNetwork },
  'migration.port_range.first': port(49152),
  'migration.port_range.last': port(49215),
  'display.network': { kind: 'string', default: '', check: checkDisplayNetwork },
  'firewall.backend': { kind: 'enum', default: 'auto', values: FIREWALL_BACKENDS },
  'firewall.pinhole_ttl_s': count(120, 3600, 5),
  'limits.max_outgoing': count(2, 64, 1),
  'limits.max_incoming': count(2, 64, 1),
  'policy.preset': { kind: 'enum', default: '', values: PRESETS },
  'policy.max_bandwidth_mibps': count(0, 1_000_000),
  'policy.parallel_connections': count(1, 64, 1),
  'policy.compression': { kind: 'enum', default: 'none', values: COMPRESSIONS },
  'policy.auto_converge': bool(false),
  'policy.post_copy': bool(false),
  'policy.encrypted': bool(false),
  'policy.copy_storage': { kind: 'enum', default: 'none', values: COPY_STORAGE },
  'policy.initial_downtime_ms': count(300, 60_000, 1),
  'policy.completion_timeout_s_per_gib': count(60, DAY_S),
  'policy.stall_timeout_s': count(120, DAY_S),
  'policy.queue_timeout_s': count(600, DAY_S, 1),
  'policy.postcopy_recovery_timeout_s': count(600, DAY_S),
  'storage.image_directories': { kind: 'string', default: '/var/lib/libvirt/images', check: checkDirectoryList },
  'jobs.retention_s': count(DAY_S, 30 * DAY_S, 60),
  'jobs.max_retained': count(1000, 100_000, 1),
  state_directory: { kind: 'path', default: '/var/lib/ferry' },
  'log.level': { kind: 'enum', default: 'info', values: LOG_LEVELS },
  'metrics.enabled': bool(true),
  'metrics.address': { kind: 'string', default: '127.0.0.1', check: checkListenAddress },
  'metrics.port': port(9469),
} as const satisfies Record<string, FieldSpec>;

export type FieldKey = keyof typeof FIELDS;
export const FIELD_KEYS = Object.keys(FIELDS) as FieldKey[];

export function fieldSpec(key: string): FieldSpec | undefined {
  return Object.hasOwn(FIELDS, key) ? (FIELDS as Record<string, FieldSpec>)[key] : undefined;
}

/** Sections are the dotted prefixes of keys ("migration", "migration.port_range"). */
export function isSection(path: string): boolean {
  return FIELD_KEYS.some((key) => key.startsWith(`${path}.`));
}

/** FERRY_ + the dotted path in upper case with dots as underscores. */
export function envName(key: string): string {
  return `FERRY_${key.toUpperCase().replace(/\./g, '_')}`;
}

/** What a key allows, for error messages ("an integer from 1 to 65535"). */
export function describeAllowed(spec: FieldSpec): string {
  switch (spec.kind) {
    case 'int':
      return `an integer from ${spec.min} to ${spec.max}`;
    case 'bool':
      return 'true or false';
    case 'enum':
      return `one of ${spec.values.map((v) => (v === '' ? '"" (empty)' : v)).join(', ')}`;
    case 'path':
      return 'an absolute path';
    case 'string':
      return 'a string';
  }
}
