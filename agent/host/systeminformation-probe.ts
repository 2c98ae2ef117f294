/**
 * SystemProbe over systeminformation. Two gaps of that library are filled
 * here: it keeps one address per family per NIC (os.networkInterfaces() has
 * them all, with their prefix), and, like libuv underneath, it drops NICs
 * that are down, which is exactly when an operator needs to see the migration
 * NIC; those come from the names in /sys/class/net with the few one-value
 * attributes that matter, and their addresses (still configured on a NIC that
 * is down, and what names it as the migration NIC) from `ip -j address show`.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import si from 'systeminformation';
import type { CpuFacts, MemoryFacts, NicCounters, NicInfo, SystemProbe } from './system-probe.js';

const SYS_NET = '/sys/class/net';
const run = promisify(execFile);

export function createSystemInformationProbe(): SystemProbe {
  return {
    async cpu(): Promise<CpuFacts> {
      const [cpu, flags] = await Promise.all([si.cpu(), si.cpuFlags()]);
      return {
        model: [cpu.manufacturer, cpu.brand].filter(Boolean).join(' '),
        vendor: cpu.vendor,
        cores: cpu.physicalCores,
        threads: cpu.cores,
        flags: flags.split(/\s+/).filter(Boolean),
      };
    },

    async memory(): Promise<MemoryFacts> {
      const mem = await si.mem();
      return { totalBytes: mem.total, usedBytes: mem.active, availableBytes: mem.available };
    },

    async nics(): Promise<NicInfo[]> {
      // rescan: the migration NIC may have changed since the last call.
      const found = (await si.networkInterfaces(true)) as si.Systeminformation.NetworkInterfacesData[];
      const all = os.networkInterfaces();
      const nics: NicInfo[] = await Promise.all(
        found
          .filter((n) => !n.internal)
          .map(async (n) => ({
            name: n.iface,
            addresses: await cidrsOf(n.iface, all[n.iface]),
            mac: n.mac,
            speedMbps: n.speed ?? 0,
            mtu: n.mtu ?? 0,
            state: n.operstate || 'unknown',
            isDefault: n.default,
          })),
      );
      const seen = new Set(found.map((n) => n.iface));
      for (const name of await listSysNet()) {
        if (!seen.has(name) && name !== 'lo') nics.push(await fromSysfs(name));
      }
      return nics.sort((a, b) => a.name.localeCompare(b.name));
    },

    // From sysfs, not si.networkStats: that one lists the NICs with execSync
    // (`ip route`), which stops the event loop until the command has run, and
    // then spawns a shell per NIC; GetStats is polled, and on a busy host
    // every RPC and progress message would wait behind it.
    async nicCounters(): Promise<NicCounters[]> {
      const names = (await listSysNet()).filter((name) => name !== 'lo');
      return Promise.all(
        names.map(async (name) => ({
          name,
          rxBytes: await readCounter(name, 'rx_bytes'),
          txBytes: await readCounter(name, 'tx_bytes'),
        })),
      );
    },

    async cpuPercent(): Promise<number> {
      return (await si.currentLoad()).currentLoad;
    },

    async kvmAvailable(): Promise<boolean> {
      try {
        // The KVM device itself (misc major 10, minor 232: Linux's
        // include/linux/miscdevice.h), not just any file by that name.
        const st = await fs.stat('/dev/kvm');
        if (!st.isCharacterDevice() || deviceNumber(st.rdev) !== KVM_DEVICE) return false;
        // Opening is what QEMU does first; a node without its driver loaded
        // (or one this process may not use) fails here, as it would for QEMU.
        await (await fs.open('/dev/kvm', constants.O_RDWR)).close();
        return true;
      } catch {
        return false;
      }
    },
  };
}

const KVM_DEVICE = '10:232';

/** "major:minor" of a dev_t as Linux encodes it (new_encode_dev in kdev_t.h). */
export function deviceNumber(rdev: number): string {
  const major = (rdev >>> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
  return `${major}:${minor}`;
}

async function listSysNet(): Promise<string[]> {
  try {
    return await fs.readdir(SYS_NET);
  } catch {
    return [];
  }
}

/** A NIC's byte counter since boot (0 if it vanished meanwhile). */
async function readCounter(name: string, counter: 'rx_bytes' | 'tx_bytes'): Promise<number> {
  try {
    return Number((await fs.readFile(`${SYS_NET}/${name}/statistics/${counter}`, 'utf8')).trim()) || 0;
  } catch {
    return 0;
  }
}

/** os.networkInterfaces()' addresses of a NIC, or ip's when it skipped the NIC (down). */
async function cidrsOf(name: string, known: os.NetworkInterfaceInfo[] | undefined): Promise<string[]> {
  if (!known) return addressesOf(name);
  return known.map((a) => a.cidr).filter((c): c is string => c !== null);
}

/** The addresses configured on a NIC that os.networkInterfaces() skips (down), as CIDRs; none if ip cannot say. */
async function addressesOf(name: string): Promise<string[]> {
  try {
    const { stdout } = await run('ip', ['-j', 'address', 'show', 'dev', name], { timeout: 2000 });
    const [link] = JSON.parse(stdout) as Array<{ addr_info?: Array<{ local?: string; prefixlen?: number }> }>;
    return (link?.addr_info ?? []).flatMap((a) => (a.local && a.prefixlen !== undefined ? [`${a.local}/${a.prefixlen}`] : []));
  } catch {
    return [];
  }
}

/** A NIC that is down: its link facts from sysfs, its addresses from ip. */
async function fromSysfs(name: string): Promise<NicInfo> {
  const read = async (attribute: string) => {
    try {
      return (await fs.readFile(`${SYS_NET}/${name}/${attribute}`, 'utf8')).trim();
    } catch {
      return ''; // e.g. speed of a link without carrier answers EINVAL.
    }
  };
  const [state, mtu, mac, speed] = await Promise.all([read('operstate'), read('mtu'), read('address'), read('speed')]);
  const speedMbps = Number(speed);
  return {
    name,
    addresses: await addressesOf(name),
    mac,
    speedMbps: Number.isFinite(speedMbps) && speedMbps > 0 ? speedMbps : 0,
    mtu: Number(mtu) || 0,
    state: state || 'unknown',
    isDefault: false,
  };
}
