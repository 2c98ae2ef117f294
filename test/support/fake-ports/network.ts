// The HostNetwork port's stand-in: addresses, routes and NIC counters that the
// test sets.
import type { HostNetwork, LinkState, LocalAddress } from '../../../agent/migration/ports.js';

export class FakeNetwork implements HostNetwork {
  constructor(
    public addresses: LocalAddress[] = [
      { address: '198.18.0.1', prefixLength: 24, interface: 'eth0', family: 'ipv4' },
      { address: '198.19.0.1', prefixLength: 24, interface: 'eth1', family: 'ipv4' },
    ],
  ) {}
  tx = new Map<string, number>([
    ['eth0', 0],
    ['eth1', 0],
  ]);
  /** The addresses routeTo was asked for, in order (each an `ip route get` on a real host). */
  routed: string[] = [];
  localAddresses(): LocalAddress[] {
    return this.addresses.filter((a) => !this.down.has(a.interface) || !this.downHidesAddresses);
  }
  /** Whether a down interface's addresses are missing from localAddresses, as Node's os.networkInterfaces() leaves them out. */
  downHidesAddresses = false;
  async configuredAddresses(): Promise<LocalAddress[]> {
    return this.addresses;
  }
  /** Interfaces without an address too (bridges). */
  bridges: string[] = [];
  async interfaceNames(): Promise<string[]> {
    return ['lo', ...new Set(this.addresses.map((a) => a.interface)), ...this.bridges];
  }
  async routeTo(address: string) {
    this.routed.push(address);
    const own = address.startsWith('198.19.')
      ? this.addresses.find((a) => a.address.startsWith('198.19.'))
      : this.addresses.find((a) => a.address.startsWith('198.18.'));
    return { source: own?.address ?? '198.18.0.1', interface: own?.interface ?? 'eth0' };
  }
  async resolve(host: string): Promise<string> {
    return host;
  }
  async txBytes(iface: string): Promise<number> {
    return this.tx.get(iface) ?? 0;
  }
  /** Interfaces whose link is down (every other one is up). */
  down = new Set<string>();
  /** Why a down interface is down (default: no carrier). */
  downReasons = new Map<string, string>();
  async linkState(iface: string): Promise<LinkState> {
    const up = !this.down.has(iface);
    const downReason = up ? '' : (this.downReasons.get(iface) ?? 'no carrier');
    return { up, description: `${iface} (physical)`, downReason, mtu: 1500 };
  }
  managementInterface(): string {
    return 'eth0';
  }
}
