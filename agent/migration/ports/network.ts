/**
 * The HostNetwork port: this host's addresses, interfaces and routes, name
 * resolution, a NIC's byte counter and link state.
 */

/** The host's own addresses and routes. */
export interface LocalAddress {
  address: string;
  prefixLength: number;
  interface: string;
  family: 'ipv4' | 'ipv6';
}

export interface Route {
  /** The local address the kernel would use to reach the target. */
  source: string;
  interface: string;
  /** The next hop when the route goes through a gateway. */
  gateway?: string;
}

export interface HostNetwork {
  /** The addresses of the interfaces that are up. */
  localAddresses(): LocalAddress[];
  /** Every address configured here, on interfaces that are down too (a migration NIC that is down keeps its address). */
  configuredAddresses(): Promise<LocalAddress[]>;
  /** Every network interface of the host, bridges without an address included. */
  interfaceNames(): Promise<string[]>;
  routeTo(address: string): Promise<Route>;
  /** Resolves a host name (or returns an address as is); NOT_FOUND if it does not resolve. */
  resolve(host: string): Promise<string>;
  /**
   * Bytes transmitted by an interface since boot. Given the interface that
   * carries the address (a VLAN, a bond, a bridge): every byte sent from that
   * address is counted there, whichever NIC below it the bytes leave by.
   */
  txBytes(iface: string): Promise<number>;
  /** Whether the interface, and the devices it is stacked on, can carry traffic; down when it does not exist. */
  linkState(iface: string): Promise<LinkState>;
  /** The interface carrying the agent's management address. */
  managementInterface(): string | undefined;
}

/** An interface as migrations see it: stacked links judged with the devices under them. */
export interface LinkState {
  up: boolean;
  /** The interface and what it is stacked on, e.g. "bond0.100 (vlan) on bond0 (bond: eth0 up, eth1 down)". */
  description: string;
  /** Why it cannot carry traffic, e.g. "lower device bond0: no slave up"; '' when up. */
  downReason: string;
  mtu: number;
}
