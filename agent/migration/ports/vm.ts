/**
 * A VM as the hypervisor describes it to the core: its state, its disks, and
 * what it needs of any host it runs on, as plain facts (the adapter parses
 * libvirt's XML). Apart from hypervisor.ts because the checks before a
 * migration and the peers' messages use these facts without the port.
 */
export type VmState = 'running' | 'paused' | 'shutoff' | 'crashed' | 'suspended' | 'other';

/**
 * Where a VM stands in a post-copy migration, from libvirt's state reason:
 * 'active' while post-copy runs, 'failed' once it broke (the source paused,
 * the destination running on what it has: VIR_DOMAIN_PAUSED_POSTCOPY_FAILED,
 * VIR_DOMAIN_RUNNING_POSTCOPY_FAILED), 'none' otherwise.
 */
export type PostcopyState = 'none' | 'active' | 'failed';

export interface VmInfo {
  id: string;
  name: string;
  state: VmState;
  memoryBytes: number;
}

/** A writable disk image of a VM, as copy_storage copies it. */
export interface VmDisk {
  /** The guest's device name (libvirt's target dev), e.g. "vda". */
  target: string;
  /** The image path (the destination creates the same path). */
  path: string;
  /** Image format, e.g. "qcow2", "raw". */
  format: string;
  /** Virtual size in bytes. */
  capacityBytes: number;
  /** Bytes the image holds (what the copy moves). */
  allocationBytes: number;
  /** The backing image, if any (copy_storage incremental keeps it shared). */
  backingPath?: string;
  backingFormat?: string;
}

/**
 * What a VM needs of any host it runs on, read from its live definition (the
 * adapter parses libvirt's XML; the core compares plain facts).
 */
export interface VmRequirements {
  /** libvirt's domain type: 'kvm' (needs /dev/kvm) or 'qemu' (TCG). */
  virtType: string;
  arch: string;
  /** The machine type as the running VM has it, e.g. "pc-i440fx-7.2". */
  machine: string;
  emulator: string;
  cpu: GuestCpu;
  /** <memory>: the most the guest may use, in bytes. */
  memoryBytes: number;
  /** Size of the huge pages backing the guest's memory; 0 for ordinary pages. */
  hugepageBytes: number;
  nics: NicAttachment[];
  disks: VmDiskUse[];
  /** Files QEMU opens at start besides disks (kernel, initrd, firmware), which the destination must have too. */
  bootFiles: RequiredPath[];
  /** Host devices passed through to the guest, described for messages ("PCI 0000:01:00.0"). */
  hostDevices: string[];
  /**
   * State libvirt keeps on the host beside the definition, which no cold
   * migration carries: UEFI variables (<nvram>), an emulated TPM's state;
   * described for messages ("UEFI variables /var/lib/libvirt/qemu/nvram/vm_VARS.fd").
   */
  hostState: string[];
  /** Defined persistently (false: transient, it exists only while it runs). */
  persistent: boolean;
}

/** The guest's <cpu>: its mode, its model, and the element itself for libvirt's comparisons. */
export interface GuestCpu {
  /** custom, host-model, host-passthrough, maximum; '' when the definition has none. */
  mode: string;
  /** '' when there is none (host-passthrough). */
  model: string;
  /** The <cpu> element as libvirt wrote it; '' when there is none. */
  xml: string;
}

/** bridge: a host bridge; network: a libvirt network; direct: macvtap on a host interface. */
export type NicAttachmentKind = 'bridge' | 'network' | 'direct';

export interface NicAttachment {
  kind: NicAttachmentKind;
  /** The bridge, network or interface name. */
  source: string;
  mac: string;
}

/** One disk of a VM as its definition has it (what copy_storage and shared storage decide on). */
export interface VmDiskUse {
  /** The guest's device name, e.g. "vda". */
  target: string;
  /** libvirt's device: disk, cdrom, floppy, lun. */
  device: string;
  /** libvirt's source type: file, block, network, volume, ... */
  type: string;
  /** The file or device; '' for network disks and empty drives. */
  path: string;
  readOnly: boolean;
  shareable: boolean;
}

/** A file the destination must have at the same path, and what the guest uses it for. */
export interface RequiredPath {
  path: string;
  /** e.g. "disk vdb (read-only)", "kernel". */
  use: string;
}

/**
 * A VNC or SPICE console that listens on one address (libvirt's listen type
 * 'address', or a bare `listen` attribute), as the definition that migrates
 * says it: QEMU on the destination must be able to listen there too.
 */
export interface DisplayListen {
  graphics: 'vnc' | 'spice';
  /** An IP address as libvirt has it (or a host name, which libvirt allows). */
  address: string;
}
