/**
 * What a VM needs of a host, read from its live domain XML into the core's
 * plain VmRequirements: virt type, architecture, machine type, emulator, the
 * <cpu> element, memory and its huge pages, what its NICs attach to, its
 * disks, the files QEMU opens at start, and passed-through host devices.
 */
import type { NicAttachment, RequiredPath, VmDiskUse, VmRequirements } from '../migration/index.js';
import { attr, bytesOf, elements, firstElement, textOf, type XmlElement } from './domain-xml.js';

/** The huge page size when <hugepages/> names none: the host's default, 2 MiB on x86. */
const DEFAULT_HUGEPAGE_BYTES = 2 * 1024 ** 2;

export function requirementsOf(domainXml: string, persistent: boolean): VmRequirements {
  const domain = firstElement(domainXml, 'domain');
  const os = firstElement(domainXml, 'os')?.body ?? '';
  const osType = firstElement(os, 'type');
  const devices = firstElement(domainXml, 'devices')?.body ?? '';
  const memory = firstElement(domainXml, 'memory');
  return {
    virtType: attr(domain?.attributes ?? '', 'type') ?? '',
    arch: attr(osType?.attributes ?? '', 'arch') ?? '',
    machine: attr(osType?.attributes ?? '', 'machine') ?? '',
    emulator: textOf(devices, 'emulator'),
    cpu: cpuOf(domainXml),
    memoryBytes: memory ? bytesOf(memory.body.trim(), attr(memory.attributes, 'unit')) : 0,
    hugepageBytes: hugepagesOf(domainXml),
    nics: elements(devices, 'interface').flatMap(nicOf),
    disks: elements(devices, 'disk').map(diskOf),
    bootFiles: bootFilesOf(os),
    hostDevices: hostDevicesOf(devices),
    hostState: hostStateOf(os, devices),
    persistent,
  };
}

function cpuOf(domainXml: string): VmRequirements['cpu'] {
  const cpu = firstElement(domainXml, 'cpu');
  if (!cpu) return { mode: '', model: '', xml: '' };
  return { mode: attr(cpu.attributes, 'mode') ?? 'custom', model: textOf(cpu.body, 'model'), xml: cpu.text };
}

function hugepagesOf(domainXml: string): number {
  const backing = firstElement(domainXml, 'memoryBacking')?.body ?? '';
  const hugepages = firstElement(backing, 'hugepages');
  if (!hugepages) return 0;
  const page = firstElement(hugepages.body, 'page');
  const size = page && attr(page.attributes, 'size');
  return size ? bytesOf(size, attr(page.attributes, 'unit')) : DEFAULT_HUGEPAGE_BYTES;
}

const NIC_SOURCE: Readonly<Record<string, [NicAttachment['kind'], string]>> = {
  bridge: ['bridge', 'bridge'],
  network: ['network', 'network'],
  direct: ['direct', 'dev'],
};

/** Attachments to something named on the host; user, ethernet, vhostuser... need nothing named there. */
function nicOf(nic: XmlElement): NicAttachment[] {
  const kind = NIC_SOURCE[attr(nic.attributes, 'type') ?? ''];
  const source = firstElement(nic.body, 'source');
  const name = kind && source ? attr(source.attributes, kind[1]) : undefined;
  if (!kind || !name) return [];
  const mac = firstElement(nic.body, 'mac');
  return [{ kind: kind[0], source: name, mac: attr(mac?.attributes ?? '', 'address') ?? '' }];
}

function diskOf(disk: XmlElement): VmDiskUse {
  const source = firstElement(disk.body.replace(/<backingStore[\s\S]*<\/backingStore>/, ''), 'source');
  const sourceAttributes = source?.attributes ?? '';
  return {
    target: attr(firstElement(disk.body, 'target')?.attributes ?? '', 'dev') ?? '',
    device: attr(disk.attributes, 'device') ?? 'disk',
    type: attr(disk.attributes, 'type') ?? 'file',
    path: attr(sourceAttributes, 'file') ?? attr(sourceAttributes, 'dev') ?? '',
    readOnly: /<readonly\s*\/>/.test(disk.body),
    shareable: /<shareable\s*\/>/.test(disk.body),
  };
}

/** Kernel, initrd, device tree and the firmware loader: QEMU opens them on the destination too (an nvram copy is per host). */
function bootFilesOf(os: string): RequiredPath[] {
  return (['kernel', 'initrd', 'dtb', 'loader'] as const)
    .map((tag) => ({ path: textOf(os, tag), use: tag === 'loader' ? 'firmware' : tag }))
    .filter((f) => f.path.startsWith('/'));
}

/**
 * What libvirt keeps per host for the guest: its UEFI variables store and an
 * emulated TPM's state directory (https://libvirt.org/formatdomain.html#bios-bootloader,
 * https://libvirt.org/formatdomain.html#tpm-device). A live migration carries
 * both in QEMU's stream; a definition moved offline does not.
 */
function hostStateOf(os: string, devices: string): string[] {
  const state: string[] = [];
  const nvram = firstElement(os, 'nvram');
  if (nvram) state.push(`UEFI variables ${nvram.body.trim() || attr(nvram.attributes, 'template') || "(libvirt's default path)"}`);
  for (const tpm of elements(devices, 'tpm')) {
    if (attr(firstElement(tpm.body, 'backend')?.attributes ?? '', 'type') === 'emulator')
      state.push('the state of an emulated TPM (swtpm)');
  }
  return state;
}

/** <hostdev> devices and NICs of type hostdev, each described for a message ("pci 0000:01:00.0"). */
function hostDevicesOf(devices: string): string[] {
  const described: string[] = [];
  for (const dev of elements(devices, 'hostdev')) described.push(describeHostdev(attr(dev.attributes, 'type') ?? 'device', dev.body));
  for (const nic of elements(devices, 'interface')) {
    if (attr(nic.attributes, 'type') === 'hostdev') described.push(`${describeHostdev('pci', nic.body)} (a NIC)`);
  }
  return described;
}

function describeHostdev(type: string, body: string): string {
  const address = firstElement(firstElement(body, 'source')?.body ?? '', 'address')?.attributes ?? '';
  const hex = (name: string, width: number) => (attr(address, name) ?? '0').replace(/^0x/, '').padStart(width, '0');
  if (type === 'pci' && address) return `pci ${hex('domain', 4)}:${hex('bus', 2)}:${hex('slot', 2)}.${hex('function', 1)}`;
  if (type === 'usb') {
    const vendor = attr(firstElement(body, 'vendor')?.attributes ?? '', 'id');
    const product = attr(firstElement(body, 'product')?.attributes ?? '', 'id');
    if (vendor && product) return `usb ${vendor.replace(/^0x/, '')}:${product.replace(/^0x/, '')}`;
    if (address) return `usb bus ${attr(address, 'bus') ?? '?'} device ${attr(address, 'device') ?? '?'}`;
  }
  if (type === 'mdev') return `mdev ${attr(address, 'uuid') ?? ''}`.trim();
  return type;
}
