// Shared setup for the libvirt integration tests (not a test file): lab hosts, a client per
// host over qemu+tcp (tests run in the root namespace), guest XML, and cleanup.

import { createVm, destroyVm, ensureLab, labExec, labHost, readConsole } from './lab.js';
import { until } from './wait.js';
import { LibvirtClient, tcpDialer } from '../../agent/libvirt/index.js';

export { createVm, destroyVm, ensureLab, labExec, labHost };

/** Waits until a dirtying (TCG Linux) guest has booted and started writing memory. */
export async function waitForDirtier(host: string, name: string, timeoutMs = 60_000): Promise<void> {
  await until(`${name} dirtier to start`, async () => (await readConsole(host, name)).includes('ferry-dirtier: started'), {
    timeoutMs,
    everyMs: 250,
  });
}

/** Destroys and undefines guests on every lab host (lab.ts does both hosts); logs failures. */
export async function destroyGuests(names: string[]): Promise<void> {
  for (const n of names) await destroyVm('lab1', n).catch((e: unknown) => console.error(`cleanup ${n}:`, e));
}

/** A per-process prefix so parallel runs and other engineers' guests never collide. */
export const vmPrefix = `lvtest-${process.pid.toString(36)}-`;
let seq = 0;
export function vmName(tag: string): string {
  return `${vmPrefix}${tag}-${++seq}`;
}

export async function connectHost(n: number, opts: { callTimeoutMs?: number } = {}): Promise<LibvirtClient> {
  const h = labHost(n);
  return LibvirtClient.connect({
    dialer: tcpDialer({ host: h.libvirtTcp.host, port: h.libvirtTcp.port }),
    uri: 'qemu:///system',
    callTimeoutMs: opts.callTimeoutMs ?? 60_000,
  });
}

/** Disk-less SeaBIOS guest: starts in well under a second, migrates in ~2 s. */
export function smallGuestXml(name: string, type: 'kvm' | 'qemu', memMiB = 128): string {
  return `<domain type='${type}'>
  <name>${name}</name>
  <memory unit='MiB'>${memMiB}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>`;
}

export async function virtType(c: LibvirtClient): Promise<'kvm' | 'qemu'> {
  return (await c.connectGetCapabilities()).includes("<domain type='kvm'") ? 'kvm' : 'qemu';
}

/**
 * The lab hosts may run Ferry's migration firewall (chain FERRY-MIGRATION, or table inet
 * ferry, rejects new connections to ports 49152–49215 unless a pinhole is open). These tests exercise the libvirt
 * client, not the firewall, so they open their own narrow pinhole on the destination: one
 * source, one destination address, one port, self-expiring (kernel-evaluated --datestop) in
 * case the test dies, and removed in the returned close function.
 */
export async function openPinhole(
  host: string,
  o: { src: string; dst: string; port: number; minutes?: number },
): Promise<() => Promise<void>> {
  const stop = new Date(Date.now() + (o.minutes ?? 15) * 60_000).toISOString().slice(0, 19);
  const spec = [
    'INPUT',
    '-s',
    `${o.src}/32`,
    '-d',
    `${o.dst}/32`,
    '-p',
    'tcp',
    '--dport',
    String(o.port),
    '-m',
    'conntrack',
    '--ctstate',
    'NEW',
    '-m',
    'time',
    '--datestop',
    stop,
    '-m',
    'comment',
    '--comment',
    `${vmPrefix}pinhole`,
    '-j',
    'ACCEPT',
  ];
  const [chain, ...rule] = spec;
  await labExec(host, ['iptables', '-w', '5', '-I', chain!, '1', ...rule]);
  // A host whose ferryd runs the nftables backend resets the range in its own table first
  // (priority -10): an element of its set, with its own timeout, is the pinhole there.
  const element = `${o.src} . ${o.dst} . ${o.port}`;
  const nftSet = o.src.includes(':') ? 'pinholes6' : 'pinholes4';
  const hasTable = (await labExec(host, ['nft', 'list', 'table', 'inet', 'ferry'], { allowFail: true })).code === 0;
  if (hasTable) {
    await labExec(host, [
      'nft',
      `add element inet ferry ${nftSet} { ${element} timeout ${o.minutes ?? 15}m comment "${vmPrefix}pinhole" }`,
    ]);
  }
  return async () => {
    await labExec(host, ['iptables', '-w', '5', '-D', ...spec], { allowFail: true });
    if (hasTable) {
      await labExec(host, ['nft', `add element inet ferry ${nftSet} { ${element} }; delete element inet ferry ${nftSet} { ${element} }`], {
        allowFail: true,
      });
    }
  };
}
