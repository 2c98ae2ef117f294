// The libvirt client against a real libvirtd (lab1): host info, start a guest and read its
// state and XML, lifecycle events, save/restore, and the failure modes a caller must see as
// clear errors (unknown UUID, no daemon, connection dying mid-call).

import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  ConnectionError,
  constants,
  InterruptedError,
  isNoDomain,
  LibvirtClient,
  tcpDialer,
  unixDialer,
  type Domain,
  type LifecycleEvent,
} from '../../agent/libvirt/index.js';
import { connectHost, destroyGuests, ensureLab, labExec, labHost, smallGuestXml, virtType, vmName } from '../support/libvirt-lab.js';
import { until } from '../support/wait.js';

const C = constants;

// Generous timeout: ensureLab may wait for another run's `lab up` (the lab is locked while it converges).
describe('libvirt client against lab1', { timeout: 600_000 }, () => {
  let c: LibvirtClient;
  const name = vmName('dom');
  const lifecycle: LifecycleEvent[] = [];
  let offLifecycle: (() => Promise<void>) | undefined;

  before(async () => {
    await ensureLab(2); // throws (fails the suite) if the lab can't come up
    c = await connectHost(1);
    offLifecycle = await c.events.subscribe(C.VIR_DOMAIN_EVENT_ID_LIFECYCLE, (e) => {
      if (e.domain.name === name) lifecycle.push(e);
    });
  });
  after(async () => {
    await destroyGuests([name]);
    if (c) {
      await offLifecycle?.().catch(() => {});
      await c.close();
    }
  });

  const seen = (event: number, detail?: number) => () =>
    Promise.resolve(lifecycle.some((e) => e.event === event && (detail === undefined || e.detail === detail)));

  it('reads host name, capabilities and library version', async () => {
    assert.equal(await c.connectGetHostname(), labHost(1).name);
    assert.ok((await c.connectGetLibVersion()) >= 9_000_000);
    const caps = await c.connectGetCapabilities();
    assert.match(caps, /<capabilities>/);
    assert.match(caps, new RegExp(labHost(1).hostUuid, 'i'));
    assert.equal(await c.connectGetUri(), 'qemu:///system');
  });

  it('reads what the checks before a migration need: memory figures, free pages, domain capabilities, CPU comparison', async () => {
    const meminfo = await labExec(labHost(1).name, ['cat', '/proc/meminfo']);
    const totalKiB = BigInt(/^MemTotal:\s+(\d+) kB/m.exec(meminfo.stdout)?.[1] ?? '0');
    const stats = await c.nodeGetMemoryStats(C.VIR_NODE_MEMORY_STATS_ALL_CELLS);
    assert.deepEqual(Object.keys(stats).sort(), ['buffers', 'cached', 'free', 'total']);
    assert.equal(stats.total, totalKiB, "libvirt's total is the kernel's MemTotal");
    const [free4k] = await c.nodeGetFreePages([4], -1, 1);
    assert.ok(free4k !== undefined && free4k > 0n, 'some 4 KiB pages are free');
    const type = await virtType(c);
    const caps = await c.connectGetDomainCapabilities({ arch: 'x86_64', virttype: type });
    assert.match(caps, new RegExp(`<domain>${type}</domain>`));
    assert.match(caps, /<machine>pc-i440fx-[\d.]+<\/machine>/);
    const query = { arch: 'x86_64', virttype: 'qemu' }; // TCG on every machine, whatever its CPU has
    assert.notEqual(
      await c.connectCompareHypervisorCPU(query, "<cpu mode='custom'><model>qemu64</model></cpu>"),
      C.VIR_CPU_COMPARE_INCOMPATIBLE,
    );
    await assert.rejects(
      c.connectCompareHypervisorCPU(
        query,
        "<cpu mode='custom' match='exact'><model>qemu64</model><feature policy='require' name='avx512f'/></cpu>",
        C.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE,
      ),
      /avx512f/,
      'TCG has no avx512f, and libvirt names it',
    );
  });

  let dom: Domain;
  it('defines and starts a guest, then reads its state and XML; lifecycle events arrive', async () => {
    const defined = await c.domainDefineXML(smallGuestXml(name, await virtType(c)));
    assert.equal(defined.name, name);
    dom = await c.domainCreate(defined);
    assert.ok(dom.id > 0, 'running domains have an id');
    const st = await c.domainGetState(dom);
    assert.equal(st.state, C.VIR_DOMAIN_RUNNING);
    assert.equal(st.stateName, 'VIR_DOMAIN_RUNNING');
    const xml = await c.domainGetXMLDesc(dom);
    assert.match(xml, new RegExp(`<name>${name}</name>`));
    assert.match(xml, new RegExp(`<uuid>${dom.uuid}</uuid>`));
    assert.deepEqual(await c.domainLookupByUUID(dom.uuid), dom);
    assert.ok((await c.connectListAllDomains(C.VIR_CONNECT_LIST_DOMAINS_ACTIVE)).some((d) => d.uuid === dom.uuid));
    await until('DEFINED event', seen(C.VIR_DOMAIN_EVENT_DEFINED), { timeoutMs: 5_000 });
    await until('STARTED/BOOTED event', seen(C.VIR_DOMAIN_EVENT_STARTED, C.VIR_DOMAIN_EVENT_STARTED_BOOTED), { timeoutMs: 5_000 });
  });

  it('saves the guest to a file and restores it', async () => {
    const file = `/var/lib/libvirt/qemu/save/${name}.save`; // a path inside lab1's mount namespace
    try {
      await c.domainSaveFlags(dom, file, null, 0);
      const off = await c.domainGetState(dom);
      assert.equal(off.state, C.VIR_DOMAIN_SHUTOFF);
      assert.equal(off.reason, C.VIR_DOMAIN_SHUTOFF_SAVED);
      await until('STOPPED/SAVED event', seen(C.VIR_DOMAIN_EVENT_STOPPED, C.VIR_DOMAIN_EVENT_STOPPED_SAVED), { timeoutMs: 5_000 });
      await c.domainRestoreFlags(file, null, C.VIR_DOMAIN_SAVE_RUNNING);
      dom = await c.domainLookupByUUID(dom.uuid);
      assert.equal((await c.domainGetState(dom)).state, C.VIR_DOMAIN_RUNNING);
      await until('STARTED/RESTORED event', seen(C.VIR_DOMAIN_EVENT_STARTED, C.VIR_DOMAIN_EVENT_STARTED_RESTORED), { timeoutMs: 5_000 });
    } finally {
      await labExec(labHost(1).name, ['rm', '-f', file]).catch(() => {});
    }
  });

  it('destroys the guest and sees STOPPED/DESTROYED', async () => {
    await c.domainDestroy(dom);
    assert.equal((await c.domainGetState(dom)).state, C.VIR_DOMAIN_SHUTOFF);
    await until('STOPPED/DESTROYED event', seen(C.VIR_DOMAIN_EVENT_STOPPED, C.VIR_DOMAIN_EVENT_STOPPED_DESTROYED), { timeoutMs: 5_000 });
    await c.domainUndefine(dom);
    await until('UNDEFINED event', seen(C.VIR_DOMAIN_EVENT_UNDEFINED), { timeoutMs: 5_000 });
  });

  it('reports an unknown UUID as a typed "no domain" error', async () => {
    await assert.rejects(c.domainLookupByUUID('0badc0de-0000-4000-8000-000000000000'), (e: unknown) => {
      assert.ok(isNoDomain(e), String(e));
      assert.equal((e as { codeName: string }).codeName, 'VIR_ERR_NO_DOMAIN');
      return true;
    });
    assert.ok(c.isOpen);
  });

  it('names the socket or address when no daemon is listening', async () => {
    await assert.rejects(
      LibvirtClient.connect({ dialer: unixDialer('/run/libvirt/no-such-sock') }),
      (e: unknown) => e instanceof ConnectionError && e.message.includes('/run/libvirt/no-such-sock'),
    );
    await assert.rejects(
      LibvirtClient.connect({ dialer: tcpDialer({ host: labHost(1).mgmtIp, port: 1 }) }),
      (e: unknown) => e instanceof ConnectionError && e.message.includes(`${labHost(1).mgmtIp}:1`) && /ECONNREFUSED/.test(e.message),
    );
  });

  it('rejects every pending call at once when the connection dies mid-call', async () => {
    // A loopback proxy in front of lab1's daemon that we can freeze and then kill, so 8 real
    // calls are in flight at the moment the "daemon" disappears.
    const h = labHost(1);
    const sockets: Socket[] = [];
    let frozen = false;
    const proxy: Server = createServer((down) => {
      const up = netConnect(h.libvirtTcp.port, h.libvirtTcp.host);
      sockets.push(down, up);
      down.pipe(up);
      up.on('data', (d) => {
        if (!frozen) down.write(d);
      });
      const kill = (): void => {
        down.destroy();
        up.destroy();
      };
      down.on('error', kill);
      up.on('error', kill);
      down.on('close', kill);
      up.on('close', kill);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const port = (proxy.address() as { port: number }).port;
    try {
      const pc = await LibvirtClient.connect({ dialer: tcpDialer({ host: '127.0.0.1', port }) });
      assert.equal(await pc.connectGetHostname(), h.name);
      frozen = true;
      const calls = [
        pc.connectGetCapabilities(),
        pc.connectGetHostname(),
        pc.connectGetLibVersion(),
        pc.connectListAllDomains(),
        pc.connectGetUri(),
        pc.connectGetVersion(),
        pc.connectGetCapabilities(),
        pc.connectGetHostname(),
      ];
      await until('8 calls pending', async () => pc.pendingCalls === 8, { timeoutMs: 2_000 });
      const t0 = Date.now();
      for (const s of sockets) s.destroy();
      const results = await Promise.allSettled(calls);
      assert.ok(Date.now() - t0 < 500, 'rejected promptly');
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.ok((r as PromiseRejectedResult).reason instanceof InterruptedError);
      }
      assert.equal(pc.isOpen, false);
    } finally {
      proxy.close();
    }
  });
});
