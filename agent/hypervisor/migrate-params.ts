/**
 * The core's LiveMigrationPlan in libvirt's terms: the flags and typed
 * parameters of one P2P DOMAIN_MIGRATE_PERFORM3_PARAMS call, and what the
 * host's libvirt/QEMU versions allow. Pure, so the exact flags and params
 * libvirt receives are unit-tested (the lab runs libvirt 9.0 only).
 */
import { versionText } from '../../shared/libvirt-version.js';
import { constants as c, type TypedParamInput } from '../libvirt/index.js';
import type { HostFeatures, LiveMigrationPlan } from '../migration/index.js';

/** libvirt's and QEMU's version numbers: major * 1,000,000 + minor * 1,000 + micro. */
const LIBVIRT_MULTIFD_COMPRESSION = 9_004_000; // zlib/zstd for parallel migration
const QEMU_POSTCOPY_WITH_MULTIFD = 10_001_000;

export function featuresOf(libvirtVersion: number, qemuVersion: number): HostFeatures {
  return {
    multifdCompression: libvirtVersion >= LIBVIRT_MULTIFD_COMPRESSION,
    postCopyWithParallel: qemuVersion >= QEMU_POSTCOPY_WITH_MULTIFD,
    versions: `libvirt ${versionText(libvirtVersion)}, QEMU ${versionText(qemuVersion)}`,
    libvirtVersion,
    qemuVersion,
  };
}

export function migrateFlags(plan: LiveMigrationPlan): number {
  // UNDEFINE_SOURCE: once the guest runs on the destination, no shut-off copy
  // stays behind that someone could start (two writers on shared storage).
  let flags =
    c.VIR_MIGRATE_LIVE |
    c.VIR_MIGRATE_PEER2PEER |
    c.VIR_MIGRATE_PERSIST_DEST |
    c.VIR_MIGRATE_UNDEFINE_SOURCE |
    c.VIR_MIGRATE_ABORT_ON_ERROR;
  if (plan.parallelConnections > 1) flags |= c.VIR_MIGRATE_PARALLEL;
  // Never COMPRESSED without a method: libvirt >= 9.4 refuses it for a
  // parallel migration, older ones silently pick xbzrle.
  if (plan.compression !== 'none') flags |= c.VIR_MIGRATE_COMPRESSED;
  if (plan.autoConverge) flags |= c.VIR_MIGRATE_AUTO_CONVERGE;
  if (plan.postCopy) flags |= c.VIR_MIGRATE_POSTCOPY;
  if (plan.encrypted) flags |= c.VIR_MIGRATE_TLS;
  if (plan.copyStorage === 'all') flags |= c.VIR_MIGRATE_NON_SHARED_DISK;
  if (plan.copyStorage === 'incremental') flags |= c.VIR_MIGRATE_NON_SHARED_INC;
  return flags;
}

export function migrateParams(plan: LiveMigrationPlan): TypedParamInput {
  const params: TypedParamInput = {
    [c.VIR_MIGRATE_PARAM_URI]: plan.migrateUri,
    // Also where the destination's NBD server listens (libvirt >= 6.8 uses
    // listen_address for it unless disks_uri is given), and the source
    // connects to the host of migrate_uri: the disk copy stays on the
    // migration network and inside the pinhole with disks_port.
    [c.VIR_MIGRATE_PARAM_LISTEN_ADDRESS]: plan.listenAddress,
  };
  if (plan.bandwidthMibps > 0) {
    params[c.VIR_MIGRATE_PARAM_BANDWIDTH] = plan.bandwidthMibps;
    // The cap protects the link; QEMU's post-copy phase has its own, unlimited by default.
    if (plan.postCopy) params[c.VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY] = plan.bandwidthMibps;
  }
  if (plan.parallelConnections > 1) params[c.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS] = plan.parallelConnections;
  if (plan.compression !== 'none') params[c.VIR_MIGRATE_PARAM_COMPRESSION] = plan.compression;
  if (plan.copyStorage !== 'none') {
    if (plan.disksPort) params[c.VIR_MIGRATE_PARAM_DISKS_PORT] = plan.disksPort;
    // An explicit list: only the disks the destination created images for.
    if (plan.migrateDisks.length > 0) params[c.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = plan.migrateDisks;
  }
  if (plan.encrypted && plan.tlsDestination) params[c.VIR_MIGRATE_PARAM_TLS_DESTINATION] = plan.tlsDestination;
  return params;
}
