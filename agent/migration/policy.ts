/**
 * Resolves what a caller asked for against the host's defaults. Explicit
 * fields win over defaults; a few combinations are fixed up or refused here,
 * once, rather than discovered by libvirt mid-migration.
 */
import { invalidArgument } from '../../shared/errors.js';
import type { Compression, CopyStorage, MigrationPolicy } from './types.js';

/** Every field optional: unset means "the host's default". */
export type PolicyRequest = Partial<MigrationPolicy>;

export const BUILTIN_DEFAULTS: Readonly<MigrationPolicy> = Object.freeze({
  maxBandwidthMibps: 0, // unlimited (vdsm's 52 MiB/s default starves 10/25 GbE links)
  parallelConnections: 1,
  compression: 'none' as Compression,
  autoConverge: false,
  postCopy: false,
  encrypted: false,
  copyStorage: 'none' as CopyStorage,
  initialDowntimeMs: 300,
  stallTimeoutS: 60,
});

export function resolvePolicy(request: PolicyRequest, defaults: MigrationPolicy = BUILTIN_DEFAULTS): MigrationPolicy {
  const policy: MigrationPolicy = { ...defaults };
  for (const [key, value] of Object.entries(request) as [keyof MigrationPolicy, unknown][]) {
    if (value !== undefined) (policy as unknown as Record<string, unknown>)[key] = value;
  }
  if (policy.parallelConnections > 1) {
    // multifd needs a compression method chosen; never leave it to chance.
    if (request.compression === undefined && policy.compression === 'none') policy.compression = 'zstd';
    if (policy.compression === 'xbzrle') {
      throw invalidArgument('policy.compression', 'xbzrle works with a single connection only: use zstd or zlib with parallel_connections > 1');
    }
  } else if (policy.compression === 'zstd' || policy.compression === 'zlib') {
    throw invalidArgument('policy.compression', `${policy.compression} needs parallel_connections > 1 (multifd); use xbzrle for a single connection`);
  }
  return policy;
}
