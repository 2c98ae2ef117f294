/**
 * Lab guests with a definition of the test's own: the lab's disk-less
 * SeaBIOS guest (scripts/lab.d/guest.sh) with a chosen virt type, memory,
 * <cpu> and extra devices, defined and started through the host's own virsh
 * (`scripts/lab exec`). destroyVm (lab.ts) removes them like any lab guest.
 */
import { labExec, labHostKvm } from './lab.js';

export interface CustomGuest {
  /** 'kvm' or 'qemu' (TCG); default: what the host offers, as scripts/lab chooses. */
  type?: 'kvm' | 'qemu';
  memMiB?: number;
  /** A <cpu> element; none by default (libvirt's default model). */
  cpu?: string;
  /** Elements added to <devices> (NICs, disks, consoles). */
  devices?: string;
  /** The <video> element; none by default (a console of its own needs one, e.g. <video><model type='vga'/></video>). */
  video?: string;
}

/** Defines and starts the guest on `host`; resolves with its UUID. */
export async function startCustomGuest(host: string, name: string, guest: CustomGuest = {}): Promise<string> {
  const type = guest.type ?? (labHostKvm(host).kvm ? 'kvm' : 'qemu');
  const xml = `<domain type='${type}'>
  <name>${name}</name>
  <memory unit='MiB'>${guest.memMiB ?? 256}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  ${guest.cpu ?? ''}
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    ${guest.devices ?? ''}
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/${name}.console.log' append='on'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    ${guest.video ?? "<video><model type='none'/></video>"}
    <memballoon model='none'/>
  </devices>
</domain>
`;
  const virsh = (...args: string[]) => ['virsh', '-q', '-c', 'qemu:///system', ...args];
  // virsh opens its file argument: /dev/stdin is a socket under Node's spawn (ENXIO), so the XML goes through a file.
  const defineFromStdin = 'f=$(mktemp) && cat >"$f" && virsh -q -c qemu:///system define "$f"; rc=$?; rm -f "$f"; exit $rc';
  await labExec(host, ['sh', '-c', defineFromStdin], { input: xml });
  const started = await labExec(host, virsh('start', name), { allowFail: true });
  if (started.code !== 0) {
    await labExec(host, virsh('undefine', name), { allowFail: true });
    throw new Error(`guest ${name} did not start on ${host}: ${started.stderr.trim()}`);
  }
  return (await labExec(host, virsh('domuuid', name))).stdout.trim();
}
