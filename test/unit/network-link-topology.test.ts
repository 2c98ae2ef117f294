// Stacked links read from sysfs trees (test/support/sysfs-fixtures/: bridge,
// VXLAN and veth captured from Linux 6.18; the VLAN on a bond built from the
// kernel's ABI documents): what kind each device is, what is under it, whether
// it can carry a migration and how Ferry names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { judgeLink } from '../../agent/network/link-state.js';
import { readLinkFacts } from '../../agent/network/link-topology.js';
import { LinuxHostNetwork } from '../../agent/network/host-network.js';

const tree = (name: string) => fileURLToPath(new URL(`../../../test/support/sysfs-fixtures/${name}`, import.meta.url));
const stateOf = async (device: string, fixture: string) => judgeLink(await readLinkFacts(device, tree(fixture)));

test('a VLAN on a bond of two NICs, one slave down: up, named with the bond and each slave', async () => {
  const facts = await readLinkFacts('bond0.100', tree('vlan-on-bond'));
  assert.equal(facts.kind, 'vlan');
  assert.deepEqual(
    facts.lowers.map((l) => [l.name, l.kind]),
    [['bond0', 'bond']],
  );
  assert.deepEqual(
    facts.lowers[0]?.lowers.map((s) => [s.name, s.kind, s.slaveStatus]),
    [
      ['eth0', 'physical', 'up'],
      ['eth1', 'physical', 'down'],
    ],
  );
  assert.deepEqual(judgeLink(facts), {
    up: true,
    description: 'bond0.100 (vlan) on bond0 (bond: eth0 up, eth1 down)',
    downReason: '',
    mtu: 9000,
  });
});

test('a VLAN on a bond whose slaves are both down: down, because of the bond', async () => {
  const state = await stateOf('bond0.100', 'vlan-on-bond-down');
  assert.equal(state.up, false);
  assert.equal(state.downReason, 'lower device bond0: no slave up');
  assert.equal(state.description, 'bond0.100 (vlan) on bond0 (bond: eth0 down, eth1 down)');
  // The slave alone: a NIC without carrier.
  assert.equal((await stateOf('eth1', 'vlan-on-bond')).downReason, 'no carrier');
});

test('a bridge with a veth port forwarding is up; a bridge without ports is down although the kernel says unknown with a carrier', async () => {
  const bridge = await readLinkFacts('br-mig', tree('netns'));
  assert.equal(bridge.kind, 'bridge');
  assert.deepEqual(
    bridge.lowers.map((p) => [p.name, p.kind, p.portState]),
    [['vm0', 'veth', 'forwarding']],
  );
  assert.deepEqual(judgeLink(bridge), { up: true, description: 'br-mig (bridge: vm0 forwarding)', downReason: '', mtu: 1500 });

  const empty = await readLinkFacts('br-empty', tree('netns'));
  assert.deepEqual([empty.operstate, empty.carrier], ['unknown', true]);
  assert.deepEqual(judgeLink(empty), { up: false, description: 'br-empty (bridge: no port)', downReason: 'no port', mtu: 1500 });
});

test('a VXLAN follows its lower device: down with it, although the VXLAN itself says unknown with a carrier', async () => {
  const vxlan = await readLinkFacts('vx0', tree('netns'));
  assert.deepEqual([vxlan.kind, vxlan.operstate, vxlan.carrier], ['vxlan', 'unknown', true]);
  assert.deepEqual(judgeLink(vxlan), {
    up: false,
    description: 'vx0 (vxlan) on u0 (veth)',
    downReason: 'lower device u0: no carrier (operstate lowerlayerdown)',
    mtu: 1450,
  });
});

test('a plain veth is up; a device that does not exist is down and says so', async () => {
  assert.deepEqual(await stateOf('veth-mig', 'netns'), { up: true, description: 'veth-mig (veth)', downReason: '', mtu: 1500 });
  assert.deepEqual(await stateOf('bond9', 'netns'), {
    up: false,
    description: 'bond9 (absent)',
    downReason: 'it does not exist',
    mtu: 0,
  });
});

test('LinuxHostNetwork reads the link state and the counters of the device that carries the address, under its sysfs root', async () => {
  const network = new LinuxHostNetwork('', tree('vlan-on-bond'));
  assert.equal((await network.linkState('bond0.100')).up, true);
  // The VLAN's own counter: the bytes sent from its address, not the bond's nor a slave's.
  assert.equal(await network.txBytes('bond0.100'), 4000);
  assert.deepEqual((await network.interfaceNames()).sort(), ['bond0', 'bond0.100', 'eth0', 'eth1']);
});
