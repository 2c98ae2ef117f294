// Consoles in libvirt's domain XML: where each VNC and SPICE console listens,
// and the rewrite that moves the source's addresses to the destination's
// display address while every other byte stays as libvirt wrote it; then the
// typed parameters the adapter adds to the perform call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { displayParams } from '../../agent/hypervisor/display-params.js';
import { displayListensOf, withDisplayAddress } from '../../agent/hypervisor/domain-graphics.js';
import { constants as c, type Domain, type LibvirtClient } from '../../agent/libvirt/index.js';

const SOURCE = '198.18.0.1';
const DISPLAY = '198.18.0.2';

/** A migratable domain document as libvirt 9.0 writes it (VIR_DOMAIN_XML_SECURE: passwd included), with these consoles. */
function domain(graphics: string): string {
  return `<domain type='kvm'>
  <name>web1</name>
  <uuid>6f1c2a3e-0000-4000-8000-000000000001</uuid>
  <memory unit='KiB'>262144</memory>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'>
      <source bridge='br0'/>
      <ip address='198.18.0.1' family='ipv4'/>
    </interface>
${graphics}
    <video>
      <model type='vga' vram='16384' heads='1' primary='yes'/>
    </video>
  </devices>
</domain>
`;
}

const VNC_BOTH = `    <graphics type='vnc' port='5900' autoport='yes' listen='198.18.0.1' passwd='s3cret' passwdValidTo='2027-01-01T00:00:00'>
      <listen type='address' address='198.18.0.1'/>
    </graphics>`;
const SPICE_BOTH = `    <graphics type='spice' port='5901' tlsPort='5902' autoport='yes' listen='198.18.0.1'>
      <listen type='address' address='198.18.0.1'/>
      <image compression='auto_glz'/>
      <channel name='main' mode='secure'/>
    </graphics>`;
const VNC_NETWORK = `    <graphics type='vnc' port='5903' autoport='yes' listen='198.18.0.1'>
      <listen type='network' address='198.18.0.1' network='mgmt'/>
    </graphics>`;

test('VNC with the listen attribute and a <listen type="address"> child: both move, nothing else changes', () => {
  const xml = domain(VNC_BOTH);
  assert.deepEqual(displayListensOf(xml), [{ graphics: 'vnc', address: SOURCE }]);
  const { xml: moved, replaced } = withDisplayAddress(xml, [SOURCE], DISPLAY);
  assert.equal(replaced, 1);
  const expected = domain(
    `    <graphics type='vnc' port='5900' autoport='yes' listen='198.18.0.2' passwd='s3cret' passwdValidTo='2027-01-01T00:00:00'>
      <listen type='address' address='198.18.0.2'/>
    </graphics>`,
  );
  assert.equal(moved, expected, 'byte-identical but for the two addresses (the NIC with the same address untouched)');
});

test('SPICE with both: moved, its ports, TLS port, image and channel settings kept', () => {
  const { xml, replaced } = withDisplayAddress(domain(SPICE_BOTH), [SOURCE], DISPLAY);
  assert.equal(replaced, 1);
  assert.equal(xml, domain(SPICE_BOTH.replaceAll(`'${SOURCE}'`, `'${DISPLAY}'`)));
  assert.deepEqual(displayListensOf(xml), [{ graphics: 'spice', address: DISPLAY }]);
});

test("a console listening on a libvirt network is left alone, also when another console's address is the same", () => {
  const xml = domain(`${VNC_NETWORK}\n${SPICE_BOTH}`);
  assert.deepEqual(displayListensOf(xml), [{ graphics: 'spice', address: SOURCE }], 'the network listen is no fact to act on');
  const { xml: moved, replaced } = withDisplayAddress(xml, [SOURCE], DISPLAY);
  assert.equal(replaced, 1);
  assert.equal(moved, domain(`${VNC_NETWORK}\n${SPICE_BOTH.replaceAll(`'${SOURCE}'`, `'${DISPLAY}'`)}`));
});

test('several consoles: each address of the source moves, an address not listed stays, wildcards and sockets are no facts', () => {
  const consoles = [
    `    <graphics type='vnc' port='-1' autoport='yes' listen='198.18.0.1'/>`, // the older form: the attribute alone
    `    <graphics type="spice" autoport="yes" listen="198.19.0.1"><listen type="address" address="198.19.0.1"/></graphics>`,
    `    <graphics type='vnc' port='5905' autoport='no' listen='203.0.113.7'>
      <listen type='address' address='203.0.113.7'/>
    </graphics>`,
    `    <graphics type='vnc' port='5906' autoport='yes' listen='0.0.0.0'>
      <listen type='address' address='0.0.0.0'/>
    </graphics>`,
    `    <graphics type='vnc'>
      <listen type='socket' socket='/var/lib/libvirt/qemu/web1.vnc'/>
    </graphics>`,
    `    <graphics type='spice' autoport='yes'>
      <listen type='none'/>
    </graphics>`,
    `    <graphics type='egl-headless'/>`,
  ];
  const xml = domain(consoles.join('\n'));
  assert.deepEqual(displayListensOf(xml), [
    { graphics: 'vnc', address: '198.18.0.1' },
    { graphics: 'spice', address: '198.19.0.1' },
    { graphics: 'vnc', address: '203.0.113.7' },
    { graphics: 'vnc', address: '0.0.0.0' },
  ]);
  const { xml: moved, replaced } = withDisplayAddress(xml, ['198.18.0.1', '198.19.0.1'], DISPLAY);
  assert.equal(replaced, 2);
  const expected = [...consoles];
  expected[0] = `    <graphics type='vnc' port='-1' autoport='yes' listen='198.18.0.2'/>`;
  expected[1] = `    <graphics type="spice" autoport="yes" listen="198.18.0.2"><listen type="address" address="198.18.0.2"/></graphics>`;
  assert.equal(moved, domain(expected.join('\n')));
});

test('nothing to replace: the same document, zero consoles moved', () => {
  const xml = domain(VNC_BOTH);
  assert.deepEqual(withDisplayAddress(xml, ['203.0.113.7'], DISPLAY), { xml, replaced: 0 });
  assert.deepEqual(withDisplayAddress(domain(''), [SOURCE], DISPLAY), { xml: domain(''), replaced: 0 });
  assert.deepEqual(displayListensOf(domain('')), []);
});

/** A libvirt client that answers the two documents and records each XML request's flags. */
function client(live: string, inactive: string, persistent: boolean) {
  const flags: number[] = [];
  const fake = {
    domainGetXMLDesc: async (_dom: Domain, f = 0) => {
      flags.push(f);
      return f & c.VIR_DOMAIN_XML_INACTIVE ? inactive : live;
    },
    domainIsPersistent: async () => persistent,
  };
  return { flags, client: fake as unknown as LibvirtClient };
}

const DOM = { name: 'web1', uuid: '6f1c2a3e-0000-4000-8000-000000000001', id: 1 } as Domain;

test('the perform parameters: destination_xml and persistent_xml from the secure migratable documents, moved', async () => {
  const inactive = domain(VNC_BOTH.replace(" port='5900'", " port='-1'"));
  const { flags, client: persistentGuest } = client(domain(VNC_BOTH), inactive, true);
  const params = await displayParams(persistentGuest, DOM, { address: DISPLAY, replace: [SOURCE] });
  assert.deepEqual(Object.keys(params).sort(), [c.VIR_MIGRATE_PARAM_DEST_XML, c.VIR_MIGRATE_PARAM_PERSIST_XML].sort());
  assert.equal(params[c.VIR_MIGRATE_PARAM_DEST_XML], withDisplayAddress(domain(VNC_BOTH), [SOURCE], DISPLAY).xml);
  assert.equal(params[c.VIR_MIGRATE_PARAM_PERSIST_XML], withDisplayAddress(inactive, [SOURCE], DISPLAY).xml);
  assert.match(String(params[c.VIR_MIGRATE_PARAM_DEST_XML]), /passwd='s3cret'/, 'the password travels');
  const secure = c.VIR_DOMAIN_XML_MIGRATABLE | c.VIR_DOMAIN_XML_SECURE;
  assert.deepEqual(flags, [secure, secure | c.VIR_DOMAIN_XML_INACTIVE]);

  const transient = client(domain(VNC_BOTH), inactive, false);
  assert.deepEqual(Object.keys(await displayParams(transient.client, DOM, { address: DISPLAY, replace: [SOURCE] })), [
    c.VIR_MIGRATE_PARAM_DEST_XML,
  ]);
  const changed = client(domain(''), inactive, true);
  assert.deepEqual(
    await displayParams(changed.client, DOM, { address: DISPLAY, replace: [SOURCE] }),
    {},
    'no console there any more: the definition migrates as it is',
  );
});
