/**
 * The HostNetwork port on Linux: addresses from the kernel, routes from
 * `ip -j route get` (the kernel's own answer to "which source address and
 * NIC would reach X"), and NIC counters and link states from sysfs.
 */
import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { readdir, readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import { FerryError } from '../../shared/errors.js';
import { familyOf } from '../../shared/net.js';
import type { HostNetwork, LinkState, LocalAddress, Route } from '../migration/index.js';
import { judgeLink } from './link-state.js';
import { readLinkFacts, SYSFS_CLASS_NET } from './link-topology.js';

const run = promisify(execFile);

export class LinuxHostNetwork implements HostNetwork {
  /**
   * @param managementAddress the agent's own address on the management network ('' = unknown).
   * @param sysfs where the kernel's network devices are (tests give a fixture tree).
   */
  constructor(
    private readonly managementAddress: string,
    private readonly sysfs = SYSFS_CLASS_NET,
  ) {}

  localAddresses(): LocalAddress[] {
    const result: LocalAddress[] = [];
    for (const [name, entries] of Object.entries(networkInterfaces())) {
      for (const e of entries ?? []) {
        if (e.internal) continue;
        result.push({
          address: e.address,
          prefixLength: Number(e.cidr?.split('/')[1] ?? 0),
          interface: name,
          family: e.family === 'IPv6' ? 'ipv6' : 'ipv4',
        });
      }
    }
    return result;
  }

  async configuredAddresses(): Promise<LocalAddress[]> {
    const { stdout } = await run('ip', ['-j', 'address', 'show'], { timeout: 5000 });
    const links = JSON.parse(stdout) as Array<{
      ifname: string;
      addr_info?: Array<{ family: string; local: string; prefixlen: number; scope?: string }>;
    }>;
    return links.flatMap((link) =>
      (link.addr_info ?? [])
        .filter((a) => a.scope !== 'host')
        .map(
          (a) =>
            ({
              address: a.local,
              prefixLength: a.prefixlen,
              interface: link.ifname,
              family: a.family === 'inet6' ? 'ipv6' : 'ipv4',
            }) as const,
        ),
    );
  }

  /** Every interface the kernel lists, with or without an address (a bridge often has none). */
  async interfaceNames(): Promise<string[]> {
    return readdir(this.sysfs);
  }

  async routeTo(address: string): Promise<Route> {
    const family = familyOf(address);
    if (!family) throw new FerryError('INVALID_ARGUMENT', `${address} is not an IP address`);
    let stdout: string;
    try {
      ({ stdout } = await run('ip', ['-j', family === 'ipv6' ? '-6' : '-4', 'route', 'get', address], { timeout: 5000 }));
    } catch (err) {
      throw new FerryError(
        'FAILED_PRECONDITION',
        `this host has no route to ${address}: ${(err as { stderr?: string }).stderr?.trim() ?? String(err)}`,
        { reason: 'NO_MIGRATION_ADDRESS' },
      );
    }
    const [route] = JSON.parse(stdout) as Array<{ dev: string; prefsrc?: string; gateway?: string }>;
    if (!route?.prefsrc)
      throw new FerryError('FAILED_PRECONDITION', `the route to ${address} has no source address on this host`, {
        reason: 'NO_MIGRATION_ADDRESS',
      });
    return { source: route.prefsrc, interface: route.dev, ...(route.gateway ? { gateway: route.gateway } : {}) };
  }

  async resolve(host: string): Promise<string> {
    if (familyOf(host)) return host;
    try {
      return (await lookup(host)).address;
    } catch {
      throw new FerryError('INVALID_ARGUMENT', `dst: host name "${host}" does not resolve: give a resolvable name or an IP address`, {
        field: 'dst',
      });
    }
  }

  async txBytes(iface: string): Promise<number> {
    return Number(await readFile(`${this.sysfs}/${iface}/statistics/tx_bytes`, 'utf8'));
  }

  /** The interface with the devices it is stacked on (link-state.ts says what "up" means for each kind). */
  async linkState(iface: string): Promise<LinkState> {
    return judgeLink(await readLinkFacts(iface, this.sysfs));
  }

  managementInterface(): string | undefined {
    if (!this.managementAddress) return undefined;
    return this.localAddresses().find((a) => a.address === this.managementAddress)?.interface;
  }
}
