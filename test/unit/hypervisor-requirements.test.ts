// The hypervisor adapter's side of the checks before a migration: a live
// domain XML read into the core's VmRequirements, the host-model CPU taken
// from domain capabilities, and libvirt's answers (refusals, incompatible
// CPUs, memory figures) turned into the port's plain results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostModelCpuOf } from '../../agent/hypervisor/domain-capabilities.js';
import { requirementsOf } from '../../agent/hypervisor/domain-requirements.js';
import { availableMemory, compareCpu, freeHugepages, guestSupport } from '../../agent/hypervisor/host-answers.js';
import { constants as c, LibvirtError, type LibvirtClient } from '../../agent/libvirt/index.js';

const LIVE = `<domain type='kvm' id='3'>
  <name>web1</name>
  <uuid>6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50</uuid>
  <memory unit='KiB'>4194304</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <memoryBacking>
    <hugepages>
      <page size='2048' unit='KiB'/>
    </hugepages>
  </memoryBacking>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram>/var/lib/libvirt/qemu/nvram/web1_VARS.fd</nvram>
    <kernel>/srv/boot/vmlinuz-6.1</kernel>
    <boot dev='hd'/>
  </os>
  <cpu mode='custom' match='exact' check='full'>
    <model fallback='forbid'>Skylake-Client-IBRS</model>
    <vendor>Intel</vendor>
    <feature policy='require' name='avx512f'/>
    <feature policy='disable' name='svm'/>
  </cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/var/lib/libvirt/images/web1.qcow2' index='2'/>
      <backingStore type='file' index='3'>
        <format type='qcow2'/>
        <source file='/shared/base.qcow2'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/srv/iso/a&amp;b.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='rbd' name='pool/img'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='block' device='disk'>
      <source dev='/dev/vg0/data'/>
      <target dev='vdc' bus='virtio'/>
      <shareable/>
    </disk>
    <interface type='bridge'>
      <mac address='52:54:00:aa:bb:01'/>
      <source bridge='br-prod'/>
      <model type='virtio'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:02'/>
      <source network='default' portid='1f0b8b9d-6f2a-4a67-9d43-8f9c3c5e2b0a' bridge='virbr0'/>
    </interface>
    <interface type='direct'>
      <mac address='52:54:00:aa:bb:03'/>
      <source dev='eth2' mode='bridge'/>
    </interface>
    <interface type='user'>
      <mac address='52:54:00:aa:bb:04'/>
    </interface>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:aa:bb:05'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x3b' slot='0x02' function='0x1'/>
      </source>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
      </source>
    </hostdev>
    <hostdev mode='subsystem' type='usb' managed='yes'>
      <source>
        <vendor id='0x046d'/>
        <product id='0xc52b'/>
      </source>
    </hostdev>
  </devices>
</domain>`;

test('a live domain XML read into requirements: virt type, machine, emulator, <cpu>, memory, huge pages, NICs, disks, boot files, host devices', () => {
  const r = requirementsOf(LIVE, false);
  assert.equal(r.virtType, 'kvm');
  assert.equal(r.arch, 'x86_64');
  assert.equal(r.machine, 'pc-q35-7.2');
  assert.equal(r.emulator, '/usr/bin/qemu-system-x86_64');
  assert.equal(r.cpu.mode, 'custom');
  assert.equal(r.cpu.model, 'Skylake-Client-IBRS');
  assert.match(
    r.cpu.xml,
    /^<cpu mode='custom' match='exact' check='full'>[\s\S]*<feature policy='require' name='avx512f'\/>[\s\S]*<\/cpu>$/,
  );
  assert.equal(r.memoryBytes, 4 * 2 ** 30, '<memory>, the maximum, not currentMemory');
  assert.equal(r.hugepageBytes, 2 * 2 ** 20);
  assert.deepEqual(r.nics, [
    { kind: 'bridge', source: 'br-prod', mac: '52:54:00:aa:bb:01' },
    { kind: 'network', source: 'default', mac: '52:54:00:aa:bb:02' },
    { kind: 'direct', source: 'eth2', mac: '52:54:00:aa:bb:03' },
  ]);
  assert.deepEqual(r.disks, [
    { target: 'vda', device: 'disk', type: 'file', path: '/var/lib/libvirt/images/web1.qcow2', readOnly: false, shareable: false },
    { target: 'sda', device: 'cdrom', type: 'file', path: '/srv/iso/a&b.iso', readOnly: true, shareable: false },
    { target: 'vdb', device: 'disk', type: 'network', path: '', readOnly: false, shareable: false },
    { target: 'vdc', device: 'disk', type: 'block', path: '/dev/vg0/data', readOnly: false, shareable: true },
  ]);
  assert.deepEqual(r.bootFiles, [
    { path: '/srv/boot/vmlinuz-6.1', use: 'kernel' },
    { path: '/usr/share/OVMF/OVMF_CODE_4M.fd', use: 'firmware' },
  ]);
  assert.deepEqual(r.hostDevices, ['pci 0000:01:00.0', 'usb 046d:c52b', 'pci 0000:3b:02.1 (a NIC)']);
  assert.deepEqual(r.hostState, ['UEFI variables /var/lib/libvirt/qemu/nvram/web1_VARS.fd']);
  assert.equal(r.persistent, false);
});

test("per-host state: an emulated TPM's, and none for a passed-through TPM or a guest without firmware variables", () => {
  const withTpm = (backend: string) =>
    `<domain type='kvm'><os><type arch='x86_64'>hvm</type></os><devices><tpm model='tpm-crb'><backend type='${backend}' version='2.0'/></tpm></devices></domain>`;
  assert.deepEqual(requirementsOf(withTpm('emulator'), true).hostState, ['the state of an emulated TPM (swtpm)']);
  assert.deepEqual(requirementsOf(withTpm('passthrough'), true).hostState, []);
});

test('a plain guest: no <cpu>, no huge pages, no NIC or disk; <hugepages/> without a size is 2 MiB pages', () => {
  const plain = `<domain type='qemu'><memory unit='MiB'>256</memory><os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os>
    <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`;
  const r = requirementsOf(plain, true);
  assert.deepEqual(
    { virtType: r.virtType, cpu: r.cpu, memoryBytes: r.memoryBytes, hugepageBytes: r.hugepageBytes, nics: r.nics, disks: r.disks },
    { virtType: 'qemu', cpu: { mode: '', model: '', xml: '' }, memoryBytes: 256 * 2 ** 20, hugepageBytes: 0, nics: [], disks: [] },
  );
  const huge = requirementsOf(plain.replace('<os>', '<memoryBacking><hugepages/></memoryBacking><os>'), true);
  assert.equal(huge.hugepageBytes, 2 * 2 ** 20);
  const passthrough = requirementsOf(plain.replace('<os>', "<cpu mode='host-passthrough' check='none' migratable='on'/><os>"), true);
  assert.deepEqual(passthrough.cpu, {
    mode: 'host-passthrough',
    model: '',
    xml: "<cpu mode='host-passthrough' check='none' migratable='on'/>",
  });
});

const DOMCAPS = `<domainCapabilities>
  <path>/usr/bin/qemu-system-x86_64</path>
  <domain>kvm</domain>
  <machine>pc-i440fx-7.2</machine>
  <arch>x86_64</arch>
  <cpu>
    <mode name='host-passthrough' supported='yes'/>
    <mode name='maximum' supported='yes'/>
    <mode name='host-model' supported='yes'>
      <model fallback='forbid'>Skylake-Client-IBRS</model>
      <vendor>Intel</vendor>
      <maxphysaddr mode='passthrough' limit='39'/>
      <feature policy='require' name='ss'/>
      <feature policy='disable' name='mpx'/>
    </mode>
    <mode name='custom' supported='yes'>
      <model usable='yes'>qemu64</model>
    </mode>
  </cpu>
</domainCapabilities>`;

test('the host-model CPU of domain capabilities as a custom <cpu> that compareHypervisorCPU accepts', () => {
  assert.equal(
    hostModelCpuOf(DOMCAPS),
    "<cpu mode='custom' match='exact'><model fallback='forbid'>Skylake-Client-IBRS</model><vendor>Intel</vendor>" +
      "<feature policy='require' name='ss'/><feature policy='disable' name='mpx'/></cpu>",
  );
  assert.equal(hostModelCpuOf(DOMCAPS.replace("name='host-model' supported='yes'", "name='host-model' supported='no'")), '');
});

/** A LibvirtClient that answers these calls only (the adapter's functions use nothing else). */
function client(calls: Partial<Record<keyof LibvirtClient, (...args: never[]) => Promise<unknown>>>): LibvirtClient {
  return calls as unknown as LibvirtClient;
}
const libvirtError = (code: number, message: string) => new LibvirtError(code, 0, message, 2, 'TEST');

test("domain capabilities: libvirt's refusal of the query is an answer (not offered, in its words); a lost daemon still throws", async () => {
  const queries: unknown[] = [];
  const offering = client({
    connectGetDomainCapabilities: async (q: never) => {
      queries.push(q);
      return DOMCAPS;
    },
  });
  const offered = await guestSupport(offering, { virtType: 'kvm', arch: 'x86_64', machine: 'pc-i440fx-7.2' });
  assert.equal(offered.offered, true);
  assert.deepEqual(queries, [{ virttype: 'kvm', arch: 'x86_64', machine: 'pc-i440fx-7.2', emulator: null }]);
  for (const code of [c.VIR_ERR_INVALID_ARG, c.VIR_ERR_CONFIG_UNSUPPORTED, c.VIR_ERR_SYSTEM_ERROR]) {
    const refusing = client({
      connectGetDomainCapabilities: async () => {
        throw libvirtError(code, "the machine 'pc-i440fx-9.9' is not supported by emulator '/usr/bin/qemu-system-x86_64'");
      },
    });
    assert.deepEqual(await guestSupport(refusing, { virtType: 'kvm', arch: 'x86_64' }), {
      offered: false,
      refusal: "the machine 'pc-i440fx-9.9' is not supported by emulator '/usr/bin/qemu-system-x86_64'",
    });
  }
  const lost = client({
    connectGetDomainCapabilities: async () => {
      throw new Error('connection closed');
    },
  });
  await assert.rejects(guestSupport(lost, { virtType: 'kvm', arch: 'x86_64' }), /connection closed/);
});

test("CPU comparison: identical, superset, incompatible with libvirt's words (FAIL_INCOMPATIBLE), unknown when libvirt cannot compare", async () => {
  const flags: number[] = [];
  const answering = (result: number) =>
    client({
      connectCompareHypervisorCPU: async (_q: never, _xml: never, f: never) => {
        flags.push(f);
        return result;
      },
    });
  assert.deepEqual(await compareCpu(answering(c.VIR_CPU_COMPARE_IDENTICAL), { virtType: 'kvm', arch: 'x86_64' }, '<cpu/>'), {
    result: 'identical',
  });
  assert.deepEqual(await compareCpu(answering(c.VIR_CPU_COMPARE_SUPERSET), { virtType: 'kvm', arch: 'x86_64' }, '<cpu/>'), {
    result: 'superset',
  });
  assert.deepEqual(flags, [c.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE, c.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE]);
  const throwing = (err: unknown) =>
    client({
      connectCompareHypervisorCPU: async () => {
        throw err;
      },
    });
  const missing = 'the CPU is incompatible with host CPU: Host CPU does not provide required features: avx512f';
  assert.deepEqual(
    await compareCpu(throwing(libvirtError(c.VIR_ERR_CPU_INCOMPATIBLE, missing)), { virtType: 'qemu', arch: 'x86_64' }, '<cpu/>'),
    {
      result: 'incompatible',
      detail: missing,
    },
  );
  assert.equal(
    (
      await compareCpu(
        throwing(libvirtError(c.VIR_ERR_OPERATION_UNSUPPORTED, 'no CPU model for qemu')),
        { virtType: 'qemu', arch: 'x86_64' },
        '<cpu/>',
      )
    ).result,
    'unknown',
  );
  await assert.rejects(
    compareCpu(throwing(libvirtError(c.VIR_ERR_INTERNAL_ERROR, 'boom')), { virtType: 'qemu', arch: 'x86_64' }, '<cpu/>'),
    /boom/,
  );
});

test("memory available is libvirt's free + buffers + cached (KiB); free huge pages are asked host-wide", async () => {
  const stats = client({ nodeGetMemoryStats: async () => ({ total: 8_000_000n, free: 1_000_000n, buffers: 24n, cached: 2_000_000n }) });
  assert.equal(await availableMemory(stats), 3_000_024 * 1024);
  const asked: unknown[] = [];
  const pages = client({
    nodeGetFreePages: async (...args: never[]) => {
      asked.push(args);
      return [300n];
    },
  });
  assert.equal(await freeHugepages(pages, 2 * 2 ** 20), 300);
  assert.deepEqual(asked, [[[2048], -1, 1]]);
});
