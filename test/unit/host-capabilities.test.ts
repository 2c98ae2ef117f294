// Host capabilities from in-memory ports: which NIC is the migration NIC and
// which the management NIC, the warnings an operator needs, and libvirt being
// down costing only its own facts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectCapabilities, type CapabilitiesDeps } from '../../agent/host/capabilities.js';
import { findMigrationNic } from '../../agent/host/migration-nic.js';
import type { HypervisorInfo } from '../../agent/host/host-facts.js';
import type { NicInfo, SystemProbe } from '../../agent/host/system-probe.js';
import { validateConfig } from '../../agent/config/validate.js';
import type { AgentConfig } from '../../agent/config/agent-config.js';

function nic(name: string, addresses: string[], extra: Partial<NicInfo> = {}): NicInfo {
  return { name, addresses, mac: '52:54:00:00:00:01', speedMbps: 10000, mtu: 1500, state: 'up', isDefault: false, ...extra };
}

const LAB_NICS = [
  nic('eth0', ['198.18.0.2/24', 'fe80::1/64'], { isDefault: true }),
  nic('eth1', ['198.19.0.2/24', 'fe80::2/64'], { mtu: 9000 }),
];

function system(nics: NicInfo[] = LAB_NICS, kvm = true): SystemProbe {
  return {
    cpu: async () => ({ model: 'Intel Xeon Gold 6338', vendor: 'GenuineIntel', cores: 32, threads: 64, flags: ['vmx', 'avx2'] }),
    memory: async () => ({ totalBytes: 512 * 2 ** 30, usedBytes: 100 * 2 ** 30, availableBytes: 400 * 2 ** 30 }),
    nics: async () => nics,
    nicCounters: async () => [],
    cpuPercent: async () => 12.5,
    kvmAvailable: async () => kvm,
  };
}

const libvirt: HypervisorInfo = {
  hostname: async () => 'hv2.example',
  hostUuid: async () => '1146a6cd-7e89-44ff-8e10-b7a12b021d60',
  libvirtVersion: async () => '9.0.0',
  qemuVersion: async () => '7.2.19',
  listVms: async () => [],
};

function config(tree: Record<string, unknown> = {}): AgentConfig {
  return validateConfig({ tree: { tls: { insecure: false }, ...tree }, checkReadable: () => undefined });
}

function deps(over: Partial<CapabilitiesDeps> = {}): CapabilitiesDeps {
  return {
    config: config({ migration: { network: '198.19.0.0/24' } }),
    system: system(),
    hypervisor: libvirt,
    ferryVersion: '0.1.0',
    ...over,
  };
}

test('everything known: facts, the migration NIC by CIDR, the management NIC, no warnings', async () => {
  const caps = await collectCapabilities(deps());
  assert.equal(caps.hostname, 'hv2.example');
  assert.equal(caps.hostUuid, '1146a6cd-7e89-44ff-8e10-b7a12b021d60');
  assert.equal(caps.libvirtVersion, '9.0.0');
  assert.equal(caps.qemuVersion, '7.2.19');
  assert.equal(caps.ferryVersion, '0.1.0');
  assert.deepEqual(caps.cpu.flags, ['vmx', 'avx2']);
  assert.equal(caps.memoryBytes, 512 * 2 ** 30);
  assert.deepEqual(caps.migrationNetwork, {
    cidr: '198.19.0.0/24',
    interface: 'eth1',
    address: '198.19.0.2',
    up: true,
    link: '',
    downReason: '',
  });
  assert.deepEqual(
    caps.nics.map((n) => [n.name, n.migration, n.management]),
    [
      ['eth0', false, true],
      ['eth1', true, false],
    ],
  );
  assert.equal(caps.nics[1]!.mtu, 9000);
  assert.equal(caps.kvmAvailable, true);
  assert.equal(caps.firewallBackend, 'auto', 'without the backend in force: the configured value');
  assert.equal(caps.firewallBackendReason, '');
  assert.deepEqual(caps.limits, { maxOutgoing: 2, maxIncoming: 2, portRangeFirst: 49152, portRangeLast: 49215 });
  assert.equal(caps.insecure, false);
  assert.deepEqual(caps.warnings, []);
});

test('limits and firewall backend in force come from their sources when given', async () => {
  const caps = await collectCapabilities(deps({ limits: () => ({ maxOutgoing: 7, maxIncoming: 3 }), firewallBackend: () => 'none' }));
  assert.deepEqual(caps.limits, { maxOutgoing: 7, maxIncoming: 3, portRangeFirst: 49152, portRangeLast: 49215 });
  assert.equal(caps.firewallBackend, 'none');
});

test('the migration NIC by interface name: its IPv4 address and block', async () => {
  const caps = await collectCapabilities(deps({ config: config({ migration: { network: 'eth1' } }) }));
  assert.deepEqual(caps.migrationNetwork, {
    cidr: '198.19.0.0/24',
    interface: 'eth1',
    address: '198.19.0.2',
    up: true,
    link: '',
    downReason: '',
  });
  const v6only = findMigrationNic({ kind: 'interface', name: 'eth9' }, [nic('eth9', ['fe80::9/64', 'fd00:19::2/64'])]);
  assert.equal(v6only.address, 'fd00:19::2');
  assert.equal(v6only.cidr, 'fd00:19::/64');
});

test('warnings: insecure, no migration network, missing NIC, down NIC, several NICs, shared with management, no KVM', async () => {
  const insecure = await collectCapabilities(deps({ config: validateConfig({ tree: { tls: { insecure: true } } }) }));
  assert.match(insecure.warnings[0]!, /^INSECURE: /);
  assert.match(insecure.warnings[1]!, /no migration network is configured .*use the management network/);
  assert.equal(insecure.migrationNetwork.interface, '');
  assert.ok(insecure.nics.every((n) => !n.migration));

  const missing = await collectCapabilities(deps({ config: config({ migration: { network: '198.20.0.0/24' } }) }));
  assert.deepEqual(missing.warnings, ['no NIC has an address in 198.20.0.0/24 (migration.network)']);
  assert.deepEqual(missing.migrationNetwork, {
    cidr: '198.20.0.0/24',
    interface: '',
    address: '',
    up: false,
    link: '',
    downReason: 'no interface has an address in 198.20.0.0/24',
  });

  const noSuchNic = await collectCapabilities(deps({ config: config({ migration: { network: 'bond1' } }) }));
  assert.deepEqual(noSuchNic.warnings, ['migration NIC bond1 (migration.network) does not exist on this host']);

  // A NIC that is down has lost its addresses as far as the OS reports.
  const down = [LAB_NICS[0]!, nic('eth1', [], { state: 'down' })];
  const byCidr = await collectCapabilities(deps({ system: system(down) }));
  assert.deepEqual(byCidr.warnings, ['no NIC has an address in 198.19.0.0/24 (migration.network); NICs that are down: eth1']);
  const byName = await collectCapabilities(deps({ system: system(down), config: config({ migration: { network: 'eth1' } }) }));
  assert.deepEqual(byName.migrationNetwork, {
    cidr: '',
    interface: 'eth1',
    address: '',
    up: false,
    link: '',
    downReason: 'operstate down',
  });
  assert.deepEqual(byName.warnings, ['migration NIC eth1 is down']);

  const two = [...LAB_NICS, nic('eth2', ['198.19.0.12/24'])];
  const several = await collectCapabilities(deps({ system: system(two) }));
  assert.deepEqual(several.warnings, ['several NICs have addresses in 198.19.0.0/24: eth1, eth2; using eth1']);

  const shared = await collectCapabilities(
    deps({ config: config({ listen: { address: '198.18.0.2' }, migration: { network: '198.18.0.0/24' } }) }),
  );
  assert.deepEqual(shared.warnings, [
    'the migration network and the management address share eth0: migrations compete with management traffic',
  ]);

  const noKvm = await collectCapabilities(deps({ system: system(LAB_NICS, false) }));
  assert.deepEqual(noKvm.warnings, ['/dev/kvm is missing or not usable by ferryd: guests cannot use KVM acceleration']);
});

test('a specific listen address picks the NIC that has it as management NIC', async () => {
  const caps = await collectCapabilities(deps({ config: config({ listen: { address: '198.19.0.2' }, migration: { network: 'eth1' } }) }));
  assert.deepEqual(
    caps.nics.map((n) => [n.name, n.management]),
    [
      ['eth0', false],
      ['eth1', true],
    ],
  );
});

test('libvirt down: its facts are empty with a warning each, the host name falls back to the OS', async () => {
  const down = new Error('cannot connect to /run/libvirt/libvirt-sock: ECONNREFUSED');
  const fail = () => Promise.reject(down);
  const caps = await collectCapabilities(
    deps({ hypervisor: { hostname: fail, hostUuid: fail, libvirtVersion: fail, qemuVersion: fail, listVms: fail } }),
  );
  const os = await import('node:os');
  assert.equal(caps.hostname, os.hostname());
  assert.equal(caps.libvirtVersion, '');
  assert.equal(caps.warnings.length, 4);
  assert.match(caps.warnings[0]!, /^libvirt: cannot read the host name: cannot connect/);
  assert.equal(caps.migrationNetwork.interface, 'eth1');
});

test('a stacked migration NIC is judged with the devices under it: a VLAN whose operstate says up but whose bond has no slave up is down, named and explained', async () => {
  const vlan = [LAB_NICS[0]!, nic('bond0.100', ['198.19.0.2/24'], { state: 'up' })];
  const caps = await collectCapabilities(
    deps({
      system: system(vlan),
      linkState: async (name) =>
        name === 'bond0.100'
          ? {
              up: false,
              description: 'bond0.100 (vlan) on bond0 (bond: eth0 down, eth1 down)',
              downReason: 'lower device bond0: no slave up',
              mtu: 9000,
            }
          : { up: true, description: `${name} (physical)`, downReason: '', mtu: 1500 },
    }),
  );
  assert.deepEqual(caps.migrationNetwork, {
    cidr: '198.19.0.0/24',
    interface: 'bond0.100',
    address: '198.19.0.2',
    up: false,
    link: 'bond0.100 (vlan) on bond0 (bond: eth0 down, eth1 down)',
    downReason: 'lower device bond0: no slave up',
  });
  assert.deepEqual(caps.warnings, [
    'migration NIC bond0.100 is down (lower device bond0: no slave up): it is bond0.100 (vlan) on bond0 (bond: eth0 down, eth1 down)',
  ]);
});
