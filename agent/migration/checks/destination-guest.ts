/**
 * Whether this host offers the guest's virt type, emulator and machine type,
 * asked of libvirt's domain capabilities (virConnectGetDomainCapabilities)
 * rather than guessed: one query when it does. When it does not, narrower
 * queries find which of the three is missing, so the finding names it: the
 * virt type for the architecture alone, then with the emulator, and what
 * is left is the machine type.
 *
 * A guest of type 'kvm' needs /dev/kvm here, which the agent knows itself;
 * without it libvirt would only refuse the virt type, so that is said first.
 */
import type { GuestQuery, GuestRequirements, GuestSupport } from '../ports.js';
import type { Findings } from './findings.js';

/** Resolves with what libvirt offers (its host-model CPU) when the guest is offered, undefined when not. */
export async function checkGuestSupport(
  guest: GuestRequirements,
  kvmUsable: boolean,
  query: (q: GuestQuery) => Promise<GuestSupport>,
  out: Findings,
): Promise<Extract<GuestSupport, { offered: true }> | undefined> {
  if (guest.virtType === 'kvm' && !kvmUsable) {
    out.block(
      'KVM_UNAVAILABLE',
      "the VM runs under KVM and the destination has no usable /dev/kvm (guests there run under TCG): migrate it to a host with KVM, or restart it as a TCG guest (domain type 'qemu')",
    );
    return undefined;
  }
  const full = await query(guestQuery(guest));
  if (full.offered) return full;
  const virt = await query({ virtType: guest.virtType, arch: guest.arch });
  if (!virt.offered) {
    if (guest.virtType === 'kvm') {
      out.block(
        'KVM_UNAVAILABLE',
        `the destination's libvirt offers no KVM guests for ${guest.arch} (${virt.refusal}): migrate the VM to a host with KVM`,
      );
    } else {
      out.block(
        'VIRT_TYPE_UNSUPPORTED',
        `the destination's libvirt offers no ${guest.virtType} guests for ${guest.arch} (${virt.refusal}): install its emulator there, or choose another destination`,
      );
    }
    return undefined;
  }
  if (guest.emulator) {
    const emulator = await query({ virtType: guest.virtType, arch: guest.arch, emulator: guest.emulator });
    if (!emulator.offered) {
      out.block(
        'EMULATOR_MISSING',
        `the destination has no usable emulator ${guest.emulator} for ${guest.arch} (${emulator.refusal}): install it there at the same path`,
      );
      return undefined;
    }
  }
  out.block(
    'MACHINE_TYPE_UNSUPPORTED',
    `the destination's QEMU does not offer machine type ${guest.machine} (${full.refusal}): upgrade QEMU there, or choose a destination whose QEMU is at least as new as the source's`,
  );
  return undefined;
}

/** The guest as libvirt's queries name it; what the guest does not say is left to libvirt's default. */
export function guestQuery(guest: Pick<GuestRequirements, 'virtType' | 'arch' | 'machine' | 'emulator'>): GuestQuery {
  return {
    virtType: guest.virtType,
    arch: guest.arch,
    ...(guest.machine ? { machine: guest.machine } : {}),
    ...(guest.emulator ? { emulator: guest.emulator } : {}),
  };
}
