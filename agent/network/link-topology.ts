/**
 * Reads one network device and the devices under it from sysfs (a VLAN on a
 * bond of two NICs, a bridge and its ports, a VXLAN over a NIC), as plain
 * facts; link-state.ts judges them. The attributes are the kernel's ABI
 * (Documentation/ABI/testing/sysfs-class-net, sysfs-class-net-bonding): the
 * device's kind from `uevent`'s DEVTYPE and its `bridge/` or `bonding/`
 * directory, the devices under it from its `lower_*` links (which the kernel
 * makes for every stacked device: VLAN, bond slave, bridge port, VXLAN with a
 * `dev`), its state from `operstate`, `carrier` and `flags`.
 */
import { readdir, readFile } from 'node:fs/promises';

export type LinkKind = 'physical' | 'veth' | 'bridge' | 'bond' | 'vlan' | 'vxlan' | 'macvlan' | 'virtual';

/** One device as sysfs shows it, with the devices under it. */
export interface LinkFacts {
  name: string;
  /** false: no such device (the other fields are empty). */
  exists: boolean;
  kind: LinkKind;
  mtu: number;
  /** The kernel's operstate: up, down, lowerlayerdown, unknown, dormant, notpresent, testing. */
  operstate: string;
  /** IFF_UP: the administrator brought it up. */
  adminUp: boolean;
  /** undefined when the kernel does not say (carrier reads fail while the device is administratively down). */
  carrier: boolean | undefined;
  /** Bonds: the slaves' order in bonding/slaves; others: the lower_* links by name. */
  lowers: LinkFacts[];
  /** As a bond's slave: bonding_slave/mii_status (up, down, going down, going back). */
  slaveStatus?: string;
  /** As a bridge's port: brport/state by name (forwarding, blocking, …). */
  portState?: string;
}

export const SYSFS_CLASS_NET = '/sys/class/net';

/** Stacks deeper than this are not followed (a loop would be a kernel bug, a deep stack a strange host). */
const MAX_DEPTH = 6;

/** The device `name` under `root` (default /sys/class/net), and every device under it. */
export async function readLinkFacts(name: string, root = SYSFS_CLASS_NET, depth = 0): Promise<LinkFacts> {
  const dir = `${root}/${name}`;
  const entries = await readdir(dir).catch(() => undefined);
  if (entries === undefined)
    return { name, exists: false, kind: 'virtual', mtu: 0, operstate: 'absent', adminUp: false, carrier: undefined, lowers: [] };
  const read = (attribute: string) =>
    readFile(`${dir}/${attribute}`, 'utf8').then(
      (text) => text.trim(),
      () => undefined,
    );
  const [uevent, operstate, carrier, flags, mtu, ifindex, iflink, slaves, slaveStatus, portState] = await Promise.all([
    read('uevent'),
    read('operstate'),
    read('carrier'),
    read('flags'),
    read('mtu'),
    read('ifindex'),
    read('iflink'),
    entries.includes('bonding') ? read('bonding/slaves') : undefined,
    entries.includes('bonding_slave') ? read('bonding_slave/mii_status') : undefined,
    entries.includes('brport') ? read('brport/state') : undefined,
  ]);
  const linked = entries.filter((e) => e.startsWith('lower_')).map((e) => e.slice('lower_'.length));
  const lowerNames = slaves !== undefined ? slaves.split(/\s+/).filter(Boolean) : linked.sort();
  const lowers = depth < MAX_DEPTH ? await Promise.all(lowerNames.map((lower) => readLinkFacts(lower, root, depth + 1))) : [];
  return {
    name,
    exists: true,
    kind: kindOf(entries, devtypeOf(uevent), ifindex !== iflink),
    mtu: Number(mtu) || 0,
    operstate: operstate ?? 'unknown',
    adminUp: ((Number(flags) || 0) & IFF_UP) !== 0,
    carrier: carrier === undefined ? undefined : carrier === '1',
    lowers,
    ...(slaveStatus !== undefined ? { slaveStatus } : {}),
    ...(portState !== undefined ? { portState: BRIDGE_PORT_STATES[Number(portState)] ?? `state ${portState}` } : {}),
  };
}

/** include/uapi/linux/if.h */
const IFF_UP = 0x1;

/** include/uapi/linux/if_bridge.h: BR_STATE_DISABLED … BR_STATE_BLOCKING. */
const BRIDGE_PORT_STATES = ['disabled', 'listening', 'learning', 'forwarding', 'blocking'];

function devtypeOf(uevent: string | undefined): string {
  return /^DEVTYPE=(.*)$/m.exec(uevent ?? '')?.[1] ?? '';
}

/**
 * A physical NIC has a `device` link (its bus device); a veth has none and
 * names its peer in iflink (iflink ≠ ifindex) with no device under it; stacked
 * kinds say so in DEVTYPE (bridge, bond, vlan, vxlan, macvlan).
 */
function kindOf(entries: readonly string[], devtype: string, iflinkElsewhere: boolean): LinkKind {
  if (entries.includes('bridge') || devtype === 'bridge') return 'bridge';
  if (entries.includes('bonding') || devtype === 'bond') return 'bond';
  if (devtype === 'vlan' || devtype === 'vxlan' || devtype === 'macvlan') return devtype;
  if (entries.includes('device')) return 'physical';
  if (iflinkElsewhere && !entries.some((e) => e.startsWith('lower_'))) return 'veth';
  return 'virtual';
}
