// Host facts on a real (lab) host: inside lab2's namespaces, with the
// migration network configured as 198.19.0.0/24 (or as eth1), the agent's
// host-facts code identifies eth1 as the migration NIC with 198.19.0.2, and
// eth0 (the management address) as the management NIC. Only the
// systeminformation side is exercised here; libvirt's facts have their own
// tests. Fails, not skips, when the lab cannot come up.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ensureLab, labExec, labHost, labHostKvm, REPO_ROOT } from '../support/lab.js';
import type { HostCapabilitiesFacts } from '../../agent/host/capabilities.js';

const FERRYD = path.join(REPO_ROOT, 'dist/agent/main.js');

before(async () => {
  await ensureLab(2);
});

/**
 * Runs `ferryd facts` inside lab2; /dev/null as the file keeps the machine's
 * /etc/ferry out of it. No --insecure: facts reads no TLS file, so the
 * default paths (absent here) must not matter.
 */
async function factsInLab2(...settings: string[]): Promise<HostCapabilitiesFacts> {
  const args = ['facts', '--config', '/dev/null', ...settings.flatMap((s) => ['--set', s])];
  const r = await labExec(labHost(2).name, [process.execPath, FERRYD, ...args]);
  assert.equal(r.code, 0, `ferryd facts failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as HostCapabilitiesFacts;
}

const KVM_WARNING = '/dev/kvm is missing or not usable by ferryd: guests cannot use KVM acceleration';

/** Warnings about the network (not INSECURE, not libvirt's: facts has no libvirt; KVM has its own test). */
const networkWarnings = (facts: HostCapabilitiesFacts) =>
  facts.warnings.filter((w) => !/^(INSECURE|libvirt:)/.test(w) && w !== KVM_WARNING);

test("KVM as lab2's libvirt sees it: available and no warning, or the warning and not available", async () => {
  // The reference is libvirt's own answer (domain type 'kvm' in lab2's
  // capabilities, recorded by scripts/lab), not the device file ferryd looks at.
  const { kvm } = labHostKvm('lab2');
  const facts = await factsInLab2('migration.network=198.19.0.0/24');
  assert.equal(facts.kvmAvailable, kvm);
  assert.equal(facts.warnings.includes(KVM_WARNING), !kvm, facts.warnings.join('; '));
});

/** lab2's migration network as `ferryd facts` reports it: eth1, a veth, up. */
const ETH1 = { cidr: '198.19.0.0/24', interface: 'eth1', address: '198.19.0.2', up: true, link: 'eth1 (veth)', downReason: '' };

test('migration network as a CIDR: eth1 carries it at 198.19.0.2, eth0 is the management NIC', async () => {
  const lab2 = labHost(2);
  assert.equal(lab2.migIp, '198.19.0.2');
  const facts = await factsInLab2('migration.network=198.19.0.0/24', `listen.address=${lab2.mgmtIp}`);

  assert.equal(facts.hostname, lab2.name, "the lab host's own UTS name");
  assert.deepEqual(facts.migrationNetwork, ETH1);
  assert.deepEqual(networkWarnings(facts), []);

  const byName = new Map(facts.nics.map((n) => [n.name, n]));
  assert.ok(!byName.has('lo'), 'loopback is not listed');
  const eth1 = byName.get('eth1');
  assert.ok(eth1, `eth1 among ${[...byName.keys()]}`);
  assert.equal(eth1.migration, true);
  assert.equal(eth1.management, false);
  assert.ok(eth1.addresses.includes('198.19.0.2/24'), `addresses ${eth1.addresses}`);
  assert.equal(eth1.state, 'up');
  assert.ok(eth1.mtu >= 1280, `mtu ${eth1.mtu}`);
  assert.match(eth1.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  const eth0 = byName.get('eth0');
  assert.ok(eth0);
  assert.deepEqual([eth0.migration, eth0.management], [false, true]);
  assert.ok(eth0.addresses.includes(`${lab2.mgmtIp}/24`));

  assert.ok(facts.cpu.threads >= 1 && facts.cpu.flags.length > 0, 'CPU facts');
  assert.ok(facts.memoryBytes > 0);
});

test('migration network as an interface name: eth1 and its address', async () => {
  const facts = await factsInLab2('migration.network=eth1');
  assert.deepEqual(facts.migrationNetwork, ETH1);
});

test('a migration network no NIC of lab2 is on is reported, not guessed', async () => {
  const facts = await factsInLab2('migration.network=198.20.0.0/24');
  assert.deepEqual(facts.migrationNetwork, {
    cidr: '198.20.0.0/24',
    interface: '',
    address: '',
    up: false,
    link: '',
    downReason: 'no interface has an address in 198.20.0.0/24',
  });
  assert.ok(facts.nics.every((n) => !n.migration));
  assert.deepEqual(networkWarnings(facts), ['no NIC has an address in 198.20.0.0/24 (migration.network)']);
});
