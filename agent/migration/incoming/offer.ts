/** What a destination answers PrepareIncoming and PrepareRecovery with: the hole it opens, and where its QEMU listens behind it. */
import { FerryError } from '../../../shared/errors.js';
import { hostPort } from '../../../shared/net.js';
import type { IncomingOffer, OpenedPinhole, PinholeGate, PrepareIncomingArgs, TraceSpan } from '../ports.js';
import { inSpan } from '../tracing.js';
import type { NetworkRole } from '../types.js';

/** The hole for one offer: from the source's migration address to `address`, for the pinhole's TTL (a second port for copy_storage's disks). */
export async function openPinhole(
  deps: { pinholes: PinholeGate; pinholeTtlMs: number },
  args: Pick<PrepareIncomingArgs, 'vmId' | 'jobId' | 'sourceMigrationAddress'>,
  address: string,
  disksPort: boolean,
  span: TraceSpan,
): Promise<OpenedPinhole> {
  return inSpan(
    span.child('pinhole open', {
      attributes: { 'ferry.pinhole.source': args.sourceMigrationAddress, 'ferry.pinhole.destination': address },
    }),
    async (open) => {
      const opened = await deps.pinholes.open({
        vmId: args.vmId,
        jobId: args.jobId,
        source: args.sourceMigrationAddress,
        destination: address,
        disksPort,
        ttlMs: deps.pinholeTtlMs,
      });
      open.setAttribute('ferry.pinhole.ports', opened.ports.join(','));
      return opened;
    },
  );
}

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
