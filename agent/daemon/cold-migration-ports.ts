/**
 * Cold migration's adapters (issue 18) as ferryd builds them: the volumes
 * through libvirt's storage pools, and the data channel between the two host
 * certificates. Without TLS (tls.insecure) there is no certificate to
 * authenticate the other agent with, so ferryd takes no cold migration
 * either way: the core then refuses mode COLD by name.
 */
import type { ReconnectingClient } from '../libvirt/index.js';
import type { Logger } from '../log.js';
import type { ColdIncomingPorts, Hypervisor, SourceVolumes, VolumeChannel } from '../migration/index.js';
import { LibvirtDestinationVolumes } from '../storage/libvirt-destination-volumes.js';
import { LibvirtSourceVolumes } from '../storage/libvirt-source-volumes.js';
import { LocalHibernationFiles } from '../storage/local-hibernation-files.js';
import { LibvirtVolumeChannel } from '../storage/volume-channel.js';
import type { CertificateStore } from '../tls/store.js';

export interface ColdMigrationPorts {
  /** The source's side (OutgoingMigrations). */
  source: { sourceVolumes: SourceVolumes; volumeChannel: VolumeChannel };
  /** The destination's side (IncomingMigrations). */
  destination: ColdIncomingPorts;
}

export function coldMigrationPorts(
  libvirt: ReconnectingClient,
  trust: CertificateStore | null,
  imageDirectories: readonly string[],
  hypervisor: Hypervisor,
  log: Logger,
): ColdMigrationPorts | undefined {
  if (!trust) return undefined;
  // The end-to-end tests' fault: a byte corrupted as each volume arrives, which the checksum must catch.
  const corruptArrivals = process.env.FERRY_TEST_CORRUPT_TRANSFER === '1';
  if (corruptArrivals)
    log.warn('FERRY_TEST_CORRUPT_TRANSFER=1: every arriving cold-migration volume is corrupted (a test hook; never in production)');
  // tls: read at each transfer, since a reload may have replaced the certificates.
  const volumeChannel = new LibvirtVolumeChannel(libvirt, { tls: () => trust.current, corruptArrivals });
  return {
    source: { sourceVolumes: new LibvirtSourceVolumes(libvirt), volumeChannel },
    destination: {
      volumes: new LibvirtDestinationVolumes(libvirt, { directories: imageDirectories }),
      channel: volumeChannel,
      files: new LocalHibernationFiles(),
      hypervisor,
      warn: (message, fields) => log.warn(message, fields),
    },
  };
}
