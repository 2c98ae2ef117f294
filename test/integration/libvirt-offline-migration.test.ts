// Cold migration's libvirt half against the lab's real daemons: the libvirt adapter
// (LibvirtHypervisor) moves a shut-off VM's definition from lab1 to lab2 by an offline P2P
// migration over qemu+tls (libvirt.destination_uri's default), with its disk at a path the
// destination chose, then undefines it on both hosts. What libvirt 9.0 checks, seen here: the
// destination saves the definition although the moved disk's file does not exist there (disks
// are checked when a domain starts, not when it is defined or migrated offline). The guest's VNC
// password travels with it, and is in the definition a hibernation keeps (definition()).

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { LibvirtHypervisor } from '../../agent/hypervisor/libvirt-hypervisor.js';
import { constants as c, isNoDomain, type LibvirtClient, ReconnectingClient, tcpDialer } from '../../agent/libvirt/index.js';
import { isFerryError } from '../../shared/errors.js';
import { connectHost, ensureLab, labExec, labHost, virtType } from '../support/libvirt-lab.js';

/** The adapter as ferryd builds it, over one lab host's libvirtd (TCP from the engine's namespace). */
function adapterFor(n: number): { libvirt: ReconnectingClient; hypervisor: LibvirtHypervisor } {
  const h = labHost(n);
  const libvirt = new ReconnectingClient({
    dialer: tcpDialer({ host: h.libvirtTcp.host, port: h.libvirtTcp.port }),
    uri: 'qemu:///system',
  });
  return { libvirt, hypervisor: new LibvirtHypervisor(libvirt) };
}

const CONSOLE_PASSWORD = 'fer5ecr7'; // VNC allows 8 characters

function guestXml(name: string, uuid: string, type: 'kvm' | 'qemu', diskPath: string): string {
  return `<domain type='${type}'>
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='${diskPath}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='usb' model='none'/>
    <graphics type='vnc' autoport='yes' passwd='${CONSOLE_PASSWORD}'/>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>`;
}

/** The persistent definition's disk sources, as libvirt writes them. */
async function diskSources(client: LibvirtClient, uuid: string): Promise<string[]> {
  const xml = await client.domainGetXMLDesc(await client.domainLookupByUUID(uuid), c.VIR_DOMAIN_XML_INACTIVE);
  return [...xml.matchAll(/<source file='([^']*)'/g)].map((m) => m[1] ?? '');
}

async function isDefined(client: LibvirtClient, uuid: string): Promise<boolean> {
  return client.domainLookupByUUID(uuid).then(
    () => true,
    (err: unknown) => {
      if (isNoDomain(err)) return false;
      throw err;
    },
  );
}

// Generous timeout: ensureLab may wait for another run's `lab up`.
describe('offline P2P migration of a shut-off VM, lab1 → lab2', { timeout: 600_000 }, () => {
  const tag = randomBytes(4).toString('hex');
  const name = `ferry-it-offline-${tag}`;
  const uuid = randomUUID();
  const scratch = `/var/tmp/ferry-it-offline-${tag}`;
  const sourceDisk = `${scratch}/source/${name}.img`;
  const movedDisk = `${scratch}/moved/${name} & co's.img`; // entities on the way there and back
  let c1: LibvirtClient;
  let c2: LibvirtClient;
  const adapters: ReconnectingClient[] = [];

  before(async () => {
    await ensureLab(2);
    c1 = await connectHost(1);
    c2 = await connectHost(2);
    await labExec(labHost(1).name, ['sh', '-c', `mkdir -p '${scratch}/source' && truncate -s 1M '${sourceDisk}'`]);
  });
  after(async () => {
    for (const client of [c1, c2]) {
      if (!client) continue;
      const dom = await client.domainLookupByUUID(uuid).catch(() => undefined);
      if (dom)
        await client.domainUndefine(dom, c.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM).catch((e: unknown) => console.error(`cleanup ${name}:`, e));
      await client.close();
    }
    for (const libvirt of adapters) await libvirt.close();
    for (const n of [1, 2]) await labExec(labHost(n).name, ['rm', '-rf', scratch], { allowFail: true });
  });

  it('moves the definition with the disk at its new path; the source keeps its own; undefine removes both, twice', async () => {
    const type = await virtType(c1);
    await c1.domainDefineXML(guestXml(name, uuid, type, sourceDisk));
    assert.equal((await c1.domainGetState(await c1.domainLookupByUUID(uuid))).state, c.VIR_DOMAIN_SHUTOFF);
    assert.equal(await isDefined(c2, uuid), false);

    const lab1 = adapterFor(1);
    const lab2 = adapterFor(2);
    adapters.push(lab1.libvirt, lab2.libvirt);
    await lab1.hypervisor.migrateOffline(uuid, {
      dconnuri: `qemu+tls://${labHost(2).name}/system`,
      diskMoves: [{ from: sourceDisk, to: movedDisk }],
    });

    // The destination: defined, shut off, persistent, under the same name, the disk at the new path.
    const dom2 = await c2.domainLookupByUUID(uuid);
    assert.equal(dom2.name, name);
    assert.equal((await c2.domainGetState(dom2)).state, c.VIR_DOMAIN_SHUTOFF);
    assert.equal(await c2.domainIsPersistent(dom2), true);
    assert.deepEqual(await diskSources(c2, uuid), [movedDisk.replace(/&/g, '&amp;').replace(/'/g, '&apos;')]);
    // …although that file is nowhere on lab2: libvirt checks disks when a domain starts.
    assert.equal((await labExec(labHost(2).name, ['test', '-e', movedDisk], { allowFail: true })).code, 1);

    // Secrets travel: read without VIR_DOMAIN_XML_SECURE, libvirt leaves the password out, and a
    // guest defined or restored from that copy would open its console to anyone.
    const secure = c.VIR_DOMAIN_XML_INACTIVE | c.VIR_DOMAIN_XML_SECURE;
    assert.match(await c2.domainGetXMLDesc(dom2, secure), new RegExp(`passwd='${CONSOLE_PASSWORD}'`));
    assert.doesNotMatch(await c1.domainGetXMLDesc(await c1.domainLookupByUUID(uuid), c.VIR_DOMAIN_XML_INACTIVE), /passwd=/);
    assert.match(await lab1.hypervisor.definition(uuid), new RegExp(`passwd='${CONSOLE_PASSWORD}'`));

    // The source: unchanged, still shut off.
    assert.equal((await c1.domainGetState(await c1.domainLookupByUUID(uuid))).state, c.VIR_DOMAIN_SHUTOFF);
    assert.deepEqual(await diskSources(c1, uuid), [sourceDisk]);

    await lab2.hypervisor.undefine(uuid);
    assert.equal(await isDefined(c2, uuid), false);
    await lab1.hypervisor.undefine(uuid);
    assert.equal(await isDefined(c1, uuid), false);
    // Not defined any more: undefine again is done, on either host; migrating it is NOT_FOUND.
    await lab1.hypervisor.undefine(uuid);
    await lab2.hypervisor.undefine(uuid);
    await assert.rejects(lab1.hypervisor.migrateOffline(uuid, { dconnuri: `qemu+tls://${labHost(2).name}/system`, diskMoves: [] }), (e) =>
      isFerryError(e, 'NOT_FOUND'),
    );
  });
});
