import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { bindProbe, PortAllocator, type PortProbe } from '../../agent/firewall/port-allocator.js';
import { FerryError, isFerryError } from '../../shared/errors.js';

const RANGE = { first: 49152, last: 49159 }; // 8 ports
const freeProbe: PortProbe = async () => 'free';
const busyProbe =
  (busy: number[]): PortProbe =>
  async (_addr, port) =>
    busy.includes(port) ? 'in-use' : 'free';

describe('firewall port allocator', () => {
  it('hands out distinct ports round-robin and releases them per owner', async () => {
    const a = new PortAllocator(RANGE, freeProbe);
    assert.deepEqual(await a.allocate('p1', 1, '198.19.0.3'), [49152]);
    assert.deepEqual(await a.allocate('p2', 2, '198.19.0.3'), [49153, 49154]);
    assert.deepEqual(a.reserved(), [49152, 49153, 49154]);
    assert.deepEqual(a.release('p2'), [49153, 49154]);
    // The cursor moves on: a just-released port is handed out last.
    assert.deepEqual(await a.allocate('p3', 1, '198.19.0.3'), [49155]);
    assert.deepEqual(a.release('nobody'), []);
  });

  it('skips ports with a listening socket and ports reserved by another pinhole', async () => {
    const a = new PortAllocator(RANGE, busyProbe([49153, 49155]));
    a.reserve('existing', [49152]);
    assert.deepEqual(await a.allocate('p1', 2, '198.19.0.3'), [49154, 49156]);
  });

  it('wraps around the range', async () => {
    const a = new PortAllocator(RANGE, freeProbe);
    for (let i = 0; i < 7; i++) await a.allocate(`p${i}`, 1, 'x');
    a.release('p0');
    assert.deepEqual(await a.allocate('late', 2, 'x'), [49159, 49152]);
  });

  it('an exhausted range is RESOURCE_EXHAUSTED, says why, and leaks no reservation', async () => {
    const a = new PortAllocator(RANGE, busyProbe([49152, 49153]));
    for (let i = 0; i < 5; i++) await a.allocate(`p${i}`, 1, 'x');
    const before = a.reserved();
    await assert.rejects(a.allocate('two', 2, 'x'), (err: unknown) => {
      assert.ok(isFerryError(err, 'RESOURCE_EXHAUSTED'));
      assert.equal(err.reason, 'PORT_RANGE_EXHAUSTED');
      assert.match(err.message, /49152-49159 \(8 ports: 5 reserved by open pinholes, 2 in use by listening sockets\); close pinholes/);
      return true;
    });
    assert.deepEqual(a.reserved(), before);
  });

  it('concurrent allocations never share a port, even with a slow probe', async () => {
    const slow: PortProbe = (_a, port) => new Promise((r) => setTimeout(() => r(port % 3 === 0 ? 'in-use' : 'free'), Math.random() * 5));
    const a = new PortAllocator({ first: 40000, last: 40099 }, slow);
    const got = await Promise.all(Array.from({ length: 30 }, (_, i) => a.allocate(`p${i}`, 2, 'x')));
    const all = got.flat();
    assert.equal(new Set(all).size, 60);
    assert.ok(all.every((p) => p % 3 !== 0));
  });

  it('a probe that cannot tell aborts the allocation and frees what it held', async () => {
    let n = 0;
    const flaky: PortProbe = async () => {
      if (++n === 2) throw new FerryError('FAILED_PRECONDITION', 'cannot bind');
      return 'free';
    };
    const a = new PortAllocator(RANGE, flaky);
    await assert.rejects(a.allocate('p', 2, 'x'), /cannot bind/);
    assert.deepEqual(a.reserved(), []);
  });

  it('validates the range', () => {
    for (const bad of [
      { first: 0, last: 10 },
      { first: 10, last: 9 },
      { first: 1.5, last: 9 },
      { first: 1, last: 65536 },
    ]) {
      assert.throws(
        () => new PortAllocator(bad, freeProbe),
        (e: unknown) => isFerryError(e, 'INVALID_ARGUMENT') && /1 <= first <= last <= 65535/.test(e.message),
      );
    }
  });
});

describe('firewall port allocator: bindProbe (loopback)', () => {
  /** Runs `body` while a TCP server listens on `host` (a port the kernel picks); returns that port, closed again. */
  async function whileListening(host: string, body: (port: number) => Promise<void>): Promise<number> {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen({ host, port: 0 }, r));
    const port = (server.address() as { port: number }).port;
    try {
      await body(port);
    } finally {
      await new Promise((r) => server.close(r));
    }
    return port;
  }

  it('reports a port with a listener as in use, and a free one as free', async () => {
    const port = await whileListening('127.0.0.1', async (p) => assert.equal(await bindProbe('127.0.0.1', p), 'in-use'));
    assert.equal(await bindProbe('127.0.0.1', port), 'free');
  });

  it('a listener on the wildcard address makes the port busy on a specific address too', async () => {
    await whileListening('0.0.0.0', async (port) => assert.equal(await bindProbe('127.0.0.1', port), 'in-use'));
  });

  it('an address that is not local is FAILED_PRECONDITION, not "in use"', async () => {
    // 198.18.0.0/15 is the lab's range; nothing in this namespace owns 198.19.255.254.
    await assert.rejects(
      bindProbe('198.19.255.254', 49152),
      (e: unknown) => isFerryError(e, 'FAILED_PRECONDITION') && /EADDRNOTAVAIL/.test(e.message),
    );
  });
});
