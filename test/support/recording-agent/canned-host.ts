// The stand-in ferryd's host as HostService answers it: its VMs, limits,
// state, capabilities and statistics.
import { protoTimeFromMs } from '../../../shared/proto-time.js';
import type { Vm } from '../../../shared/generated/ferry/v1/Vm.js';
import { JOB_3, PAUSED, progress, STARTED_MS } from './canned-jobs.js';

export const VMS: Vm[] = [
  {
    id: '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50',
    name: 'web1',
    state: 'VM_STATE_RUNNING',
    memoryBytes: 512 * 2 ** 20,
    vcpus: 2,
    persistent: true,
  },
  { id: '7a2b3c4d-1e2f-4a5b-9c8d-112233445566', name: 'db1', state: 'VM_STATE_PAUSED', stateReason: '2', memoryBytes: 2 ** 30, vcpus: 4 },
  // Two VMs with one name (libvirt refuses that on one host; the agent's list is still the authority).
  { id: '8b3c4d5e-2f3a-4b6c-8d9e-aabbccddeeff', name: 'twin', state: 'VM_STATE_RUNNING', memoryBytes: 2 ** 28, vcpus: 1 },
  { id: '9c4d5e6f-3a4b-4c7d-9e0f-ffeeddccbbaa', name: 'twin', state: 'VM_STATE_SHUTOFF', memoryBytes: 2 ** 28, vcpus: 1 },
];

export const LIMITS = { maxOutgoing: 2, maxIncoming: 3, portRangeFirst: 49152, portRangeLast: 49215 };

export const HOST_STATE = {
  libvirtConnected: true,
  migrationNic: 'eth1',
  migrationNicUp: true,
  limits: LIMITS,
  maintenance: 'MAINTENANCE_PHASE_OFF' as const,
};

export const CAPABILITIES = {
  hostname: 'lab1',
  hostUuid: '4c4c4544-0042-3510-8044-b4c04f4e4a32',
  ferryVersion: '0.2.0',
  cpu: { model: 'Intel(R) Xeon(R) CPU', vendor: 'GenuineIntel', cores: 2, threads: 4, flags: ['vmx', 'avx2'] },
  memoryBytes: 24 * 2 ** 30,
  nics: [
    { name: 'eth0', addresses: ['198.18.0.1/24'], mac: '52:54:00:00:00:01', speedMbps: 1000, mtu: 1500, state: 'up', management: true },
    { name: 'eth1', addresses: ['198.19.0.1/24'], mac: '52:54:00:00:01:01', speedMbps: 0, mtu: 9000, state: 'up', migration: true },
  ],
  migrationNetwork: { cidr: '198.19.0.0/24', interface: 'eth1', address: '198.19.0.1', up: true },
  libvirtVersion: '9.0.0',
  qemuVersion: '7.2.19',
  kvmAvailable: false,
  firewallBackend: 'iptables',
  limits: LIMITS,
  insecure: true,
  warnings: ['TLS is off (tls.insecure)'],
  // A job of an earlier run, paused in post-copy.
  postcopyPaused: [{ ...progress(JOB_3, VMS[2]?.id ?? '', 'lab3', 'MIGRATION_MODE_REMOTE'), ...PAUSED }],
};

export const STATS = {
  time: protoTimeFromMs(STARTED_MS + 0.5),
  cpuPercent: 12.5,
  memoryTotalBytes: 24 * 2 ** 30,
  memoryUsedBytes: 3 * 2 ** 30,
  memoryAvailableBytes: 20 * 2 ** 30,
  nics: [{ name: 'eth1', rxBytes: 123_456_789_012, txBytes: 1, rxBytesPerS: 0, txBytesPerS: 10_485_760 }],
  outgoingMigrations: 1,
  incomingMigrations: 0,
  queuedMigrations: 0,
  agent: {
    rssBytes: 70 * 2 ** 20,
    eventLoopDelayP99: protoTimeFromMs(3.1),
    eventLoopDelayMax: protoTimeFromMs(35),
    uptime: protoTimeFromMs(7_200_000),
  },
};
