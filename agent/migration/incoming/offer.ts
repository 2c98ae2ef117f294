/** What a destination answers PrepareIncoming and PrepareRecovery with: where its QEMU listens, behind which hole. */
import { FerryError } from '../../../shared/errors.js';
import { hostPort } from '../../../shared/net.js';
import type { IncomingOffer, OpenedPinhole } from '../ports.js';
import type { NetworkRole } from '../types.js';

/** The migrate URI is the hole's destination and first port; a second port is the disks' (copy_storage). */
export function offerThrough(
  pinhole: OpenedPinhole,
  dconnuri: string,
  network: NetworkRole,
  jobId: string,
  displayAddress: string,
): IncomingOffer {
  const [port, disksPort = 0] = pinhole.ports;
  if (port === undefined) throw new FerryError('INTERNAL', `the firewall opened a pinhole for job ${jobId} without a port`);
  return {
    migrateUri: `tcp://${hostPort(pinhole.destination, port)}`,
    listenAddress: pinhole.destination,
    port,
    disksPort,
    pinholeExpiresAt: pinhole.expiresAt,
    dconnuri,
    network,
    displayAddress,
  };
}
