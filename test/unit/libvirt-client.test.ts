// The RPC layer and client against a mock libvirtd: handshake, many calls in flight matched by
// serial, remote errors, timeouts, a daemon that dies or talks garbage, and bad input.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  CallTimeoutError,
  ClosedError,
  ConnectionError,
  InterruptedError,
  isNoDomain,
  LibvirtClient,
  ProtocolError,
  unixDialer,
  XdrEncodeError,
} from '../../agent/libvirt/index.js';
import {
  decodeRemoteConnectOpenArgs,
  decodeRemoteConnectSupportsFeatureArgs,
  decodeRemoteDomainLookupByNameArgs,
  encodeRemoteAuthListRet,
  encodeRemoteAuthPolkitRet,
  encodeRemoteDomainLookupByNameRet,
} from '../../agent/libvirt/generated/remote_protocol.gen.js';
import { MockLibvirtd } from '../support/mock-libvirtd.js';
import { hex } from '../support/libvirt-fixtures.js';
import { sleep } from '../support/wait.js';

const UUID = '00112233-4455-6677-8899-aabbccddeeff';
const echoDomain = (m: MockLibvirtd, delay?: (name: string) => number): void => {
  m.on('DOMAIN_LOOKUP_BY_NAME', (c) => {
    const { name } = decodeRemoteDomainLookupByNameArgs(c.args);
    if (name === 'missing') return { error: { code: 42, message: `Domain not found: no domain with matching name '${name}'` } };
    return {
      delayMs: delay?.(name) ?? 0,
      body: (w) => encodeRemoteDomainLookupByNameRet(w, { dom: { name, uuid: Buffer.from(UUID.replace(/-/g, ''), 'hex'), id: 3 } }),
    };
  });
};

describe('libvirt client over a mock daemon', () => {
  let mock: MockLibvirtd;
  let clients: LibvirtClient[] = [];
  const connect = async (opts: Partial<Parameters<typeof LibvirtClient.connect>[0]> = {}): Promise<LibvirtClient> => {
    const c = await LibvirtClient.connect({ dialer: mock.dialer(), keepalive: false, ...opts });
    clients.push(c);
    return c;
  };
  before(async () => {
    mock = await MockLibvirtd.start();
  });
  after(async () => {
    await mock.close();
  });
  afterEach(async () => {
    for (const c of clients) await c.close().catch(() => {});
    clients = [];
    await mock.close(); // a fresh daemon per test, so handlers don't leak between tests
    mock = await MockLibvirtd.start();
  });

  it('handshakes: keepalive feature, auth list, open with the URI', async () => {
    const seen: unknown[] = [];
    mock.on('CONNECT_SUPPORTS_FEATURE', (c) => {
      seen.push(['feature', decodeRemoteConnectSupportsFeatureArgs(c.args).feature]);
      return { body: (w) => w.int(0) };
    });
    mock.on('CONNECT_OPEN', (c) => {
      seen.push(['open', decodeRemoteConnectOpenArgs(c.args)]);
      return undefined;
    });
    const c = await connect({ uri: 'qemu:///system', keepalive: { intervalMs: 1000, count: 3 } });
    assert.deepEqual(seen, [
      ['feature', 10],
      ['open', { name: 'qemu:///system', flags: 0 }],
    ]);
    assert.equal(mock.count('AUTH_LIST'), 1);
    assert.equal(await c.connectGetLibVersion(), 9_000_000);
  });

  it('authenticates with polkit when that is what the daemon offers', async () => {
    mock.on('AUTH_LIST', () => ({ body: (w) => encodeRemoteAuthListRet(w, { types: [2] }) }));
    mock.on('AUTH_POLKIT', () => ({ body: (w) => encodeRemoteAuthPolkitRet(w, { complete: 1 }) }));
    await connect();
    assert.equal(mock.count('AUTH_POLKIT'), 1);
  });

  it('fails clearly when only SASL is offered', async () => {
    mock.on('AUTH_LIST', () => ({ body: (w) => encodeRemoteAuthListRet(w, { types: [1] }) }));
    await assert.rejects(
      connect(),
      (e: unknown) => e instanceof ConnectionError && /SASL is not supported/.test(e.message) && e.message.includes(mock.path),
    );
  });

  it('matches out-of-order replies to 8 calls in flight by serial', async () => {
    echoDomain(mock, (name) => 80 - Number(name.slice(2)) * 10); // later calls answer first
    const c = await connect();
    const names = Array.from({ length: 8 }, (_, i) => `vm${i}`);
    const calls = names.map((n) => c.domainLookupByName(n));
    await sleep(5);
    assert.equal(c.pendingCalls, 8);
    const doms = await Promise.all(calls);
    assert.deepEqual(
      doms.map((d) => d.name),
      names,
    );
    assert.equal(doms[0]!.uuid, UUID);
  });

  it('turns an error reply into a typed "no domain" error', async () => {
    echoDomain(mock);
    const c = await connect();
    await assert.rejects(c.domainLookupByName('missing'), (e: unknown) => isNoDomain(e) && (e as Error).message.includes('missing'));
    assert.equal((await c.domainLookupByName('ok')).name, 'ok', 'connection still usable');
  });

  it('times out a call whose reply never comes, and stays usable', async () => {
    mock.on('DOMAIN_GET_XML_DESC', () => ({ hang: true }));
    echoDomain(mock);
    const c = await connect({ callTimeoutMs: 100 });
    const dom = await c.domainLookupByName('a');
    const t0 = Date.now();
    await assert.rejects(
      c.domainGetXMLDesc(dom),
      (e: unknown) => e instanceof CallTimeoutError && e.procedure === 'DOMAIN_GET_XML_DESC' && e.timeoutMs === 100,
    );
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(c.pendingCalls, 0);
    assert.equal((await c.domainLookupByName('b')).name, 'b');
  });

  it('per-call timeout overrides the default', async () => {
    mock.on('DOMAIN_GET_XML_DESC', () => ({ hang: true }));
    echoDomain(mock);
    const c = await connect({ callTimeoutMs: 60_000 });
    const dom = await c.domainLookupByName('a');
    await assert.rejects(c.domainGetXMLDesc(dom, 0, { timeoutMs: 50 }), CallTimeoutError);
  });

  it('rejects every pending call at once when the daemon dies mid-call', async () => {
    mock.on('DOMAIN_GET_XML_DESC', () => ({ hang: true }));
    echoDomain(mock);
    const c = await connect();
    const dom = await c.domainLookupByName('a');
    const settled: number[] = [];
    const calls = Array.from({ length: 5 }, () =>
      c.domainGetXMLDesc(dom).catch((e: unknown) => {
        settled.push(Date.now());
        throw e;
      }),
    );
    await sleep(20);
    const t0 = Date.now();
    mock.dropAll();
    const results = await Promise.allSettled(calls);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason;
      assert.ok(e instanceof InterruptedError, String(e));
      assert.equal(e.procedure, 'DOMAIN_GET_XML_DESC');
      assert.ok((e.cause as Error) instanceof ConnectionError);
    }
    assert.ok(Math.max(...settled) - t0 < 200, 'all rejected promptly');
    assert.equal(c.isOpen, false);
    await assert.rejects(c.domainLookupByName('x'), ClosedError);
  });

  it('rejects everything pending when the daemon drops the connection on one call', async () => {
    mock.on('DOMAIN_GET_XML_DESC', () => ({ hang: true }));
    mock.on('DOMAIN_GET_STATE', () => ({ drop: true }));
    echoDomain(mock);
    const c = await connect();
    const dom = await c.domainLookupByName('a');
    const hung = c.domainGetXMLDesc(dom);
    await assert.rejects(c.domainGetState(dom), InterruptedError);
    await assert.rejects(hung, InterruptedError);
  });

  it('destroys the connection on a framing error and says why', async () => {
    mock.on('DOMAIN_GET_XML_DESC', () => ({ hang: true }));
    echoDomain(mock);
    const c = await connect();
    const dom = await c.domainLookupByName('a');
    const reason = new Promise<Error>((resolve) => c.onClose(resolve));
    const hung = c.domainGetXMLDesc(dom);
    await sleep(10);
    mock.sendRaw(hex('00000004 deadbeef')); // length 4 < header size
    await assert.rejects(hung, (e: unknown) => e instanceof InterruptedError && e.cause instanceof ProtocolError);
    assert.match((await reason).message, /framing error/);
  });

  it('closes cleanly: CONNECT_CLOSE is sent and pending calls reject as interrupted', async () => {
    mock.on('DOMAIN_GET_XML_DESC', () => ({ hang: true }));
    const c = await connect();
    const hung = c.domainGetXMLDesc({ name: 'a', uuid: UUID, id: 1 });
    await sleep(10);
    await c.close();
    await assert.rejects(hung, (e: unknown) => e instanceof InterruptedError && e.cause instanceof ClosedError);
    assert.equal(mock.count('CONNECT_CLOSE'), 1);
    assert.equal(c.isOpen, false);
    await c.close(); // idempotent
  });

  it('rejects malformed input before sending anything', async () => {
    const c = await connect();
    const before = mock.received.length;
    await assert.rejects(c.domainLookupByUUID('not-a-uuid'), XdrEncodeError);
    await assert.rejects(c.domainMigratePerform3Params({ name: 'x', uuid: UUID, id: 1 }, null, { mystery: 1 }, 0), XdrEncodeError);
    assert.equal(mock.received.length, before);
    assert.equal(c.isOpen, true);
  });

  it('names the socket when the daemon is not running', async () => {
    const path = `${mock.path}.absent`;
    await assert.rejects(
      LibvirtClient.connect({ dialer: unixDialer(path) }),
      (e: unknown) => e instanceof ConnectionError && e.address === `unix:${path}` && e.message.includes(path) && /ENOENT/.test(e.message),
    );
  });
});
