/**
 * Whether a device can carry migrations, judged from its sysfs facts
 * (link-topology.ts), and how Ferry names it: "bond0.100 (vlan) on bond0
 * (bond: eth0 up, eth1 down)". A device's own operstate is not enough for
 * stacked links (Documentation/networking/operstates.rst): a VXLAN reports
 * `unknown` with a carrier whatever its lower device does, and a bridge
 * without ports reports `unknown` with a carrier too (both seen on Linux
 * 6.18, test/support/sysfs-fixtures/). So:
 *   - a VLAN, VXLAN or macvlan is up when its lower device is;
 *   - a bond when one slave's MII status is up (Documentation/networking/bonding.rst);
 *   - a bridge when one port forwards;
 *   - and each of them, like any device, when it is administratively up and
 *     its operstate is up (or `unknown` with a carrier: drivers that do not
 *     report operstate, such as dummy).
 * The byte counters that prove where a migration went are the top device's,
 * the one that carries the address: every byte the host sends from that
 * address is counted there, whichever slave or port it then leaves by.
 */
import type { LinkState } from '../migration/index.js';
import type { LinkFacts } from './link-topology.js';

export function judgeLink(facts: LinkFacts): LinkState {
  return { up: downReason(facts) === '', description: describe(facts), downReason: downReason(facts), mtu: facts.mtu };
}

/** Why the device cannot carry traffic; '' when it can. */
export function downReason(link: LinkFacts): string {
  if (!link.exists) return 'it does not exist';
  if (!link.adminUp && link.operstate !== 'up') return 'administratively down';
  if (link.kind === 'vlan' || link.kind === 'vxlan' || link.kind === 'macvlan') {
    for (const lower of link.lowers) {
      const why = downReason(lower);
      if (why) return `lower device ${lower.name}: ${why}`;
    }
  }
  if (link.kind === 'bond') {
    if (link.lowers.length === 0) return 'no slave';
    if (!link.lowers.some(slaveUp)) return 'no slave up';
  }
  if (link.kind === 'bridge') {
    if (link.lowers.length === 0) return 'no port';
    if (!link.lowers.some(portForwarding)) return `no port forwarding (${link.lowers.map(portSummary).join(', ')})`;
  }
  return operstateReason(link);
}

function operstateReason(link: LinkFacts): string {
  if (link.operstate === 'up') return '';
  if (link.carrier === false)
    return link.operstate === 'down' || link.operstate === 'unknown' ? 'no carrier' : `no carrier (operstate ${link.operstate})`;
  if (link.operstate === 'unknown') return '';
  return `operstate ${link.operstate}`;
}

/** The bonding driver's own view of a slave, else the slave's link. */
function slaveUp(slave: LinkFacts): boolean {
  return slave.slaveStatus !== undefined ? slave.slaveStatus === 'up' : downReason(slave) === '';
}

function portForwarding(port: LinkFacts): boolean {
  return port.portState !== undefined ? port.portState === 'forwarding' && downReason(port) === '' : downReason(port) === '';
}

function portSummary(port: LinkFacts): string {
  return `${port.name} ${port.portState ?? (downReason(port) ? 'down' : 'up')}`;
}

/** "bond0.100 (vlan) on bond0 (bond: eth0 up, eth1 down)"; "br-mig (bridge: vm0 forwarding)"; "eth1 (physical)". */
export function describe(link: LinkFacts): string {
  const stacked = link.kind === 'vlan' || link.kind === 'vxlan' || link.kind === 'macvlan';
  // A bond's slaves and a bridge's ports are named in its own part; only those stacked on something else get a part of their own.
  const below = stacked ? link.lowers : link.lowers.filter((lower) => lower.lowers.length > 0);
  return [head(link), ...below.map(describe)].join(' on ');
}

function head(link: LinkFacts): string {
  if (!link.exists) return `${link.name} (absent)`;
  if (link.kind === 'bond') {
    const slaves = link.lowers.map((s) => `${s.name} ${s.slaveStatus ?? (slaveUp(s) ? 'up' : 'down')}`);
    return `${link.name} (bond: ${slaves.join(', ') || 'no slave'})`;
  }
  if (link.kind === 'bridge') return `${link.name} (bridge: ${link.lowers.map(portSummary).join(', ') || 'no port'})`;
  return `${link.name} (${link.kind})`;
}
