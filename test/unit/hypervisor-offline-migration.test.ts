// The libvirt adapter's cold-migration calls over a mock libvirtd: what migrateOffline, undefine
// and a relocated restore send libvirtd (procedures, flags, typed parameters, dxml), what they
// refuse without sending, and how they end. The real daemons' answers are in
// test/integration/libvirt-offline-migration.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LibvirtHypervisor } from '../../agent/hypervisor/libvirt-hypervisor.js';
import {
  decodeRemoteDomainGetXmlDescArgs,
  decodeRemoteDomainLookupByUuidArgs,
  decodeRemoteDomainMigratePerform3ParamsArgs,
  decodeRemoteDomainRestoreFlagsArgs,
  decodeRemoteDomainUndefineFlagsArgs,
  encodeRemoteDomainGetStateRet,
  encodeRemoteDomainGetXmlDescRet,
  encodeRemoteDomainIsPersistentRet,
  encodeRemoteDomainLookupByUuidRet,
  encodeRemoteDomainMigratePerform3ParamsRet,
} from '../../agent/libvirt/generated/remote_protocol.gen.js';
import { constants as c, ReconnectingClient } from '../../agent/libvirt/index.js';
import { fromWire, typedParamsToRecord } from '../../agent/libvirt/typed-params.js';
import { isFerryError } from '../../shared/errors.js';
import { MockLibvirtd } from '../support/mock-libvirtd.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const DCONNURI = 'qemu+tls://lab2/system';
const NO_DOMAIN = {
  error: { code: c.VIR_ERR_NO_DOMAIN, domain: c.VIR_FROM_QEMU, message: `Domain not found: no domain with matching uuid '${VM}'` },
};

const DEFINITION = `<domain type='kvm'>
  <name>vm1</name>
  <uuid>${VM}</uuid>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/vm1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <graphics type='vnc' port='-1' autoport='yes' passwd='secret'/>
  </devices>
</domain>
`;

interface Daemon {
  mock: MockLibvirtd;
  libvirt: ReconnectingClient;
  hypervisor: LibvirtHypervisor;
  /** The domain's state (virDomainState) and whether it is persistent, as the mock answers them. */
  vm: { state: number; persistent: boolean; defined: boolean };
  /** The flags of every DOMAIN_GET_XML_DESC. */
  xmlFlags: number[];
}

async function daemon(options: { offlineTimeoutMs?: number } = {}): Promise<Daemon> {
  const mock = await MockLibvirtd.start();
  const vm = { state: c.VIR_DOMAIN_SHUTOFF, persistent: true, defined: true };
  const xmlFlags: number[] = [];
  mock.on('DOMAIN_LOOKUP_BY_UUID', (call) => {
    const { uuid } = decodeRemoteDomainLookupByUuidArgs(call.args);
    if (!vm.defined) return NO_DOMAIN;
    return { body: (w) => encodeRemoteDomainLookupByUuidRet(w, { dom: { name: 'vm1', uuid, id: -1 } }) };
  });
  mock.on('DOMAIN_GET_STATE', () => ({ body: (w) => encodeRemoteDomainGetStateRet(w, { state: vm.state, reason: 0 }) }));
  mock.on('DOMAIN_IS_PERSISTENT', () => ({ body: (w) => encodeRemoteDomainIsPersistentRet(w, { persistent: vm.persistent ? 1 : 0 }) }));
  mock.on('DOMAIN_GET_XML_DESC', (call) => {
    xmlFlags.push(decodeRemoteDomainGetXmlDescArgs(call.args).flags);
    return { body: (w) => encodeRemoteDomainGetXmlDescRet(w, { xml: DEFINITION }) };
  });
  const libvirt = new ReconnectingClient({ dialer: mock.dialer(), keepalive: false, retryStrategy: () => 50 });
  const hypervisor = new LibvirtHypervisor(libvirt, { callTimeoutMs: 2_000, ...options });
  await libvirt.client();
  return { mock, libvirt, hypervisor, vm, xmlFlags };
}

async function closeDaemon(d: Daemon): Promise<void> {
  await d.libvirt.close();
  await d.mock.close();
}

/** Records each DOMAIN_MIGRATE_PERFORM3_PARAMS (its dconnuri, flags and typed parameters) and answers OK. */
function recordPerforms(d: Daemon): { dconnuri: string | null; flags: number; params: Record<string, unknown> }[] {
  const performs: { dconnuri: string | null; flags: number; params: Record<string, unknown> }[] = [];
  d.mock.on('DOMAIN_MIGRATE_PERFORM3_PARAMS', (call) => {
    const args = decodeRemoteDomainMigratePerform3ParamsArgs(call.args);
    performs.push({ dconnuri: args.dconnuri, flags: args.flags, params: typedParamsToRecord(args.params.map(fromWire)) });
    return { body: (w) => encodeRemoteDomainMigratePerform3ParamsRet(w, { cookie_out: Buffer.alloc(0) }) };
  });
  return performs;
}

test('migrateOffline: one P2P perform with OFFLINE | PERSIST_DEST | PEER2PEER and the relocated inactive definition', async () => {
  const d = await daemon();
  try {
    const performs = recordPerforms(d);
    await d.hypervisor.migrateOffline(VM, {
      dconnuri: DCONNURI,
      diskMoves: [{ from: '/var/lib/libvirt/images/vm1.qcow2', to: '/srv/ferry/vm1.qcow2' }],
    });
    assert.equal(performs.length, 1);
    const [perform] = performs;
    assert.equal(perform?.dconnuri, DCONNURI);
    assert.equal(perform?.flags, c.VIR_MIGRATE_OFFLINE | c.VIR_MIGRATE_PERSIST_DEST | c.VIR_MIGRATE_PEER2PEER);
    const relocated = DEFINITION.replace("file='/var/lib/libvirt/images/vm1.qcow2'", "file='/srv/ferry/vm1.qcow2'");
    assert.deepEqual(perform?.params, { destination_xml: relocated, persistent_xml: relocated });
    // The persistent definition, with its secrets (the VNC password above travels).
    assert.deepEqual(d.xmlFlags, [c.VIR_DOMAIN_XML_INACTIVE | c.VIR_DOMAIN_XML_SECURE | c.VIR_DOMAIN_XML_MIGRATABLE]);
  } finally {
    await closeDaemon(d);
  }
});

test('migrateOffline refuses a running VM and a transient one FAILED_PRECONDITION, sending no perform', async () => {
  const d = await daemon();
  try {
    const performs = recordPerforms(d);
    const plan = { dconnuri: DCONNURI, diskMoves: [] };
    d.vm.state = c.VIR_DOMAIN_RUNNING;
    await assert.rejects(
      d.hypervisor.migrateOffline(VM, plan),
      (e) => isFerryError(e, 'FAILED_PRECONDITION') && /is running, not shut off/.test(e.message),
    );
    d.vm.state = c.VIR_DOMAIN_PAUSED;
    await assert.rejects(
      d.hypervisor.migrateOffline(VM, plan),
      (e) => isFerryError(e, 'FAILED_PRECONDITION') && /is paused/.test(e.message),
    );
    d.vm.state = c.VIR_DOMAIN_SHUTOFF;
    d.vm.persistent = false;
    await assert.rejects(
      d.hypervisor.migrateOffline(VM, plan),
      (e) => isFerryError(e, 'FAILED_PRECONDITION') && /no persistent definition/.test(e.message),
    );
    assert.equal(performs.length, 0);
    assert.equal(d.mock.count('DOMAIN_MIGRATE_PERFORM3_PARAMS'), 0);
  } finally {
    await closeDaemon(d);
  }
});

test("migrateOffline: libvirt's refusal keeps its code; an unknown VM is NOT_FOUND; a perform that never answers ends at the deadline", async () => {
  const d = await daemon({ offlineTimeoutMs: 300 });
  try {
    d.mock.on('DOMAIN_MIGRATE_PERFORM3_PARAMS', () => ({
      error: { code: c.VIR_ERR_OPERATION_INVALID, domain: c.VIR_FROM_QEMU, message: 'cannot migrate domain with 1 snapshots' },
    }));
    const plan = { dconnuri: DCONNURI, diskMoves: [] };
    await assert.rejects(
      d.hypervisor.migrateOffline(VM, plan),
      (e) =>
        isFerryError(e, 'FAILED_PRECONDITION') &&
        e.details.libvirtName === 'VIR_ERR_OPERATION_INVALID' &&
        /cannot migrate domain with 1 snapshots/.test(e.message),
    );
    d.mock.on('DOMAIN_MIGRATE_PERFORM3_PARAMS', () => ({ hang: true }));
    const started = Date.now();
    await assert.rejects(d.hypervisor.migrateOffline(VM, plan), (e) => isFerryError(e, 'DEADLINE_EXCEEDED'));
    assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
    d.vm.defined = false;
    await assert.rejects(d.hypervisor.migrateOffline(VM, plan), (e) => isFerryError(e, 'NOT_FOUND'));
  } finally {
    await closeDaemon(d);
  }
});

test('undefine: a shut-off VM goes with KEEP_NVRAM | KEEP_TPM | CHECKPOINTS_METADATA; a running one stays, FAILED_PRECONDITION', async () => {
  const d = await daemon();
  try {
    const undefines: number[] = [];
    d.mock.on('DOMAIN_UNDEFINE_FLAGS', (call) => {
      undefines.push(decodeRemoteDomainUndefineFlagsArgs(call.args).flags);
      d.vm.defined = false;
      return undefined;
    });
    d.vm.state = c.VIR_DOMAIN_RUNNING;
    await assert.rejects(
      d.hypervisor.undefine(VM),
      (e) => isFerryError(e, 'FAILED_PRECONDITION') && /is running, not shut off/.test(e.message),
    );
    assert.deepEqual(undefines, []);
    d.vm.state = c.VIR_DOMAIN_SHUTOFF;
    await d.hypervisor.undefine(VM);
    assert.deepEqual(undefines, [
      c.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM | c.VIR_DOMAIN_UNDEFINE_KEEP_TPM | c.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
    ]);
    // Again: not defined any more, which is what was asked.
    await d.hypervisor.undefine(VM);
    assert.equal(undefines.length, 1);
  } finally {
    await closeDaemon(d);
  }
});

test("undefine: a VM that vanishes before libvirt undefines it resolves; libvirt's refusal keeps its code", async () => {
  const d = await daemon();
  try {
    d.mock.on('DOMAIN_UNDEFINE_FLAGS', () => NO_DOMAIN);
    await d.hypervisor.undefine(VM);
    d.mock.on('DOMAIN_UNDEFINE_FLAGS', () => ({
      error: {
        code: c.VIR_ERR_OPERATION_INVALID,
        domain: c.VIR_FROM_QEMU,
        message: 'Refusing to undefine while domain managed save image exists',
      },
    }));
    await assert.rejects(
      d.hypervisor.undefine(VM),
      (e) =>
        isFerryError(e, 'FAILED_PRECONDITION') &&
        /managed save image exists/.test(e.message) &&
        e.details.libvirtCode === c.VIR_ERR_OPERATION_INVALID,
    );
  } finally {
    await closeDaemon(d);
  }
});

test('restore: a relocated definition goes to libvirt as dxml; otherwise the saved state keeps its own', async () => {
  const d = await daemon();
  try {
    const restores: { from: string; dxml: string | null; flags: number }[] = [];
    d.mock.on('DOMAIN_RESTORE_FLAGS', (call) => {
      restores.push(decodeRemoteDomainRestoreFlagsArgs(call.args));
      return undefined;
    });
    const relocated = DEFINITION.replace('/var/lib/libvirt/images/', '/srv/ferry/');
    assert.deepEqual(await d.hypervisor.restore('/srv/ferry/vm1.save', relocated, true, { relocated: true }), { id: VM, name: 'vm1' });
    await d.hypervisor.restore('/var/lib/ferry/vm1.save', DEFINITION, false);
    await d.hypervisor.restore('/var/lib/ferry/vm1.save', DEFINITION, false, { relocated: false });
    assert.deepEqual(restores, [
      { from: '/srv/ferry/vm1.save', dxml: relocated, flags: c.VIR_DOMAIN_SAVE_PAUSED },
      { from: '/var/lib/ferry/vm1.save', dxml: null, flags: c.VIR_DOMAIN_SAVE_RUNNING },
      { from: '/var/lib/ferry/vm1.save', dxml: null, flags: c.VIR_DOMAIN_SAVE_RUNNING },
    ]);
  } finally {
    await closeDaemon(d);
  }
});
