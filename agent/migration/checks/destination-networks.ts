/**
 * Every network a NIC of the guest attaches to must exist on the destination
 * under the same name: a host bridge (Linux or Open vSwitch) or interface
 * for type bridge and direct, an active libvirt network for type network.
 * libvirt would otherwise fail the migration when the destination QEMU
 * starts, after the guest's memory has begun to move.
 */
import type { NicAttachment } from '../ports.js';
import type { Findings } from './findings.js';

/** `interfaces`/`networks` undefined: not read (no NIC needs them, or reading failed and was reported). */
export function checkNics(
  nics: readonly NicAttachment[],
  interfaces: ReadonlySet<string> | undefined,
  networks: ReadonlySet<string> | undefined,
  out: Findings,
): void {
  for (const nic of nics) {
    const name = `the VM's NIC ${nic.mac || '(no MAC)'}`;
    if (nic.kind === 'network') {
      if (networks && !networks.has(nic.source)) {
        out.block(
          'NETWORK_MISSING',
          `${name} attaches to libvirt network ${nic.source}, which is not active on the destination: define and start it there (virsh net-start ${nic.source})`,
        );
      }
    } else if (interfaces && !interfaces.has(nic.source)) {
      const what = nic.kind === 'bridge' ? 'bridge' : 'interface';
      out.block(
        'NETWORK_MISSING',
        `${name} attaches to ${what} ${nic.source}, which the destination does not have: create it there with the same name`,
      );
    }
  }
}

/** Which facts the NICs need read: host interfaces, libvirt networks. */
export function nicNeeds(nics: readonly NicAttachment[]): { interfaces: boolean; networks: boolean } {
  return { interfaces: nics.some((n) => n.kind !== 'network'), networks: nics.some((n) => n.kind === 'network') };
}
