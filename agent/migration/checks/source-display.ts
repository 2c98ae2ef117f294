/**
 * The VM's VNC and SPICE consoles against the hosts' display addresses. QEMU
 * on the destination listens where the definition says; a console that
 * listens on an address of the source host cannot listen there, and libvirt
 * would find out only when the destination's QEMU starts, late in the
 * migration. Such consoles move to the destination's display address
 * (display.network there), or the migration is refused before anything
 * starts. Every address (0.0.0.0, ::) and loopback exist on every host and
 * need nothing; a console on an address that is not the source's (an
 * address that moves between hosts) migrates unchanged, with a warning.
 */
import { addressToBigInt } from '../../../shared/cidr.js';
import { familyOf, isUnicastAddress } from '../../../shared/net.js';
import type { DisplayListen, DisplayMove } from '../ports.js';
import type { Findings } from './findings.js';

/** The consoles that must move (they listen on an address of the source) and those that migrate unchanged on an address the source does not have. */
export interface SourceConsoles {
  move: DisplayListen[];
  foreign: DisplayListen[];
}

export function classifyConsoles(listens: readonly DisplayListen[], sourceAddresses: readonly string[]): SourceConsoles {
  const own = new Set(sourceAddresses.map(addressKey));
  const consoles: SourceConsoles = { move: [], foreign: [] };
  for (const listen of listens) {
    if (familyOf(listen.address) && !isUnicastAddress(listen.address)) continue; // every address, or loopback
    (own.has(addressKey(listen.address)) ? consoles.move : consoles.foreign).push(listen);
  }
  return consoles;
}

/** What the plan carries: the source addresses to replace with the destination's display address; undefined when no console moves. */
export function displayMove(consoles: SourceConsoles, displayAddress: string): DisplayMove | undefined {
  if (consoles.move.length === 0 || !displayAddress) return undefined;
  return { address: displayAddress, replace: [...new Set(consoles.move.map((c) => c.address))] };
}

/**
 * A console to move and no display address on the destination blocks (the
 * destination's to fix, so said on its side); a console on an address that
 * is not the source's warns on the source.
 */
export function checkConsoles(consoles: SourceConsoles, displayAddress: string, source: Findings, destination: Findings): void {
  if (consoles.move.length > 0 && !displayAddress) destination.block('GRAPHICS_LISTEN_ADDRESS', noDisplayAddress(consoles.move));
  for (const c of consoles.foreign) {
    source.warn(
      'GRAPHICS_LISTEN_ADDRESS',
      `the VM's ${label(c)} console listens on ${c.address}, which is not an address of the source host: it migrates unchanged, so QEMU on the destination must be able to listen there`,
    );
  }
}

/** The refusal's words, also when PrepareIncoming answers no display address although CheckIncoming had one. */
export function noDisplayAddress(move: readonly DisplayListen[]): string {
  const consoles = move.map((c) => `${label(c)} on ${c.address}`).join(', ');
  return `the VM's console listens on an address of the source host (${consoles}), which QEMU on the destination cannot listen on, and the destination has no display address to move it to: set display.network on the destination, or make the console listen on type='network', 0.0.0.0 or ::`;
}

function label(c: DisplayListen): string {
  return c.graphics.toUpperCase();
}

/** One key per address however it is written ("2001:db8::1" and "2001:DB8:0::1"); names stay as they are. */
function addressKey(address: string): string {
  const n = addressToBigInt(address);
  return n ? `${n.family}/${n.value}` : address;
}
