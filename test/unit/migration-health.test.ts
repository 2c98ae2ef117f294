// ferry.migration's health follows the agent and the migration link: a host
// whose migration NIC is down or missing says NOT_SERVING; one without a
// migration network follows the agent (it migrates over management).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIGRATION_HEALTH_SERVICE, MigrationHealth } from '../../agent/rpc/migration-health.js';
import { followMigrationLink, readMigrationLink } from '../../agent/host/migration-link-watch.js';
import { type Cidr, parseCidr } from '../../shared/cidr.js';
import { FakeNetwork } from '../support/fake-ports.js';
import { sleep, until } from '../support/wait.js';

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  assert.ok(typeof parsed !== 'string', typeof parsed === 'string' ? parsed : '');
  return parsed;
}

function recorder() {
  const statuses: string[] = [];
  return { statuses, sink: { setStatus: (service: string, status: string) => statuses.push(`${service} ${status}`) } };
}

test('ferry.migration: NOT_SERVING until the agent serves, then as the migration link goes; SERVING without a migration network', () => {
  const { statuses, sink } = recorder();
  const health = new MigrationHealth(sink);
  health.link({ configured: true, up: true });
  health.agent(true);
  health.link({ configured: true, up: false });
  health.link({ configured: true, up: true });
  health.link({ configured: false, up: false });
  health.agent(false);
  assert.deepEqual(
    statuses.map((s) => s.replace(`${MIGRATION_HEALTH_SERVICE} `, '')),
    ['NOT_SERVING', 'NOT_SERVING', 'SERVING', 'NOT_SERVING', 'SERVING', 'SERVING', 'NOT_SERVING'],
  );
  assert.ok(statuses.every((s) => s.startsWith('ferry.migration ')));
});

test('the migration link: the interface with an address in the CIDR, or the one named; missing when none; not configured without a network', async () => {
  const network = new FakeNetwork([
    { address: '198.18.0.2', prefixLength: 24, interface: 'eth0', family: 'ipv4' },
    { address: '198.19.0.2', prefixLength: 24, interface: 'bond0.100', family: 'ipv4' },
  ]);
  assert.deepEqual(await readMigrationLink({ kind: 'cidr', cidr: cidr('198.19.0.0/24') }, network), {
    configured: true,
    nic: 'bond0.100',
    up: true,
    description: 'bond0.100 (physical)',
    downReason: '',
  });
  network.down.add('br-mig');
  network.downReasons.set('br-mig', 'no port');
  assert.deepEqual(await readMigrationLink({ kind: 'interface', name: 'br-mig' }, network), {
    configured: true,
    nic: 'br-mig',
    up: false,
    description: 'br-mig (physical)',
    downReason: 'no port',
  });
  assert.deepEqual(await readMigrationLink({ kind: 'cidr', cidr: cidr('10.9.0.0/16') }, network), {
    configured: true,
    nic: '',
    up: false,
    description: '',
    downReason: 'no interface has an address in 10.9.0.0/16',
  });
  assert.equal((await readMigrationLink(null, network)).configured, false);
});

test('followMigrationLink reports each change once, and follows the network the configuration in force names', async () => {
  const network = new FakeNetwork();
  let spec: { kind: 'interface'; name: string } = { kind: 'interface', name: 'eth1' };
  const seen: string[] = [];
  const stop = followMigrationLink(
    () => spec,
    network,
    (link) => seen.push(`${link.nic} ${link.up ? 'up' : `down: ${link.downReason}`}`),
    5,
  );
  try {
    await until('change 1', () => seen.length === 1);
    network.down.add('eth1');
    await until('change 2', () => seen.length === 2);
    spec = { kind: 'interface', name: 'eth0' };
    await until('change 3', () => seen.length === 3);
    await sleep(30);
    assert.deepEqual(seen, ['eth1 up', 'eth1 down: no carrier', 'eth0 up']);
  } finally {
    stop();
  }
});
