import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalAddress,
  defaultLocalAddresses,
  formatIPv6,
  parseAddress,
  unicastProblem,
  validateEndpoints,
} from '../../agent/firewall/addresses.js';
import { FerryError } from '../../shared/errors.js';

const LOCAL = ['198.19.0.3', '198.18.0.3', '2001:db8:0:1::3'];

function rejects(fn: () => unknown, field: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FerryError, `expected FerryError, got ${String(err)}`);
    assert.equal(err.kind, 'INVALID_ARGUMENT');
    assert.equal(err.details.field, field);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('firewall addresses: parsing and canonical form', () => {
  it('parses IPv4 and keeps the dotted quad', () => {
    const a = parseAddress('198.19.0.2');
    assert.equal(a?.family, 'ipv4');
    assert.equal(a?.text, '198.19.0.2');
    assert.deepEqual([...a!.bytes], [198, 19, 0, 2]);
  });

  it('canonicalizes IPv6 as iptables-save prints it (RFC 5952)', () => {
    const cases: [string, string][] = [
      ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
      ['fe80::', 'fe80::'],
      ['::2', '::2'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
      ['::ffff:192.0.2.1', '::ffff:c000:201'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
      ['1:2:3:4:5:6:192.0.2.1', '1:2:3:4:5:6:c000:201'],
    ];
    for (const [input, want] of cases) assert.equal(parseAddress(input)?.text, want, input);
  });

  it('formatIPv6 compresses the longest run of two or more zero groups', () => {
    const bytes = new Uint8Array(16);
    bytes[15] = 1;
    assert.equal(formatIPv6(bytes), '::1');
    assert.equal(formatIPv6(new Uint8Array(16)), '::');
  });

  it('rejects prefixes, zones, names and garbage', () => {
    for (const bad of ['198.19.0.2/32', 'fe80::1%eth1', 'lab2', '', '1.2.3', '01.2.3.4', '::g']) {
      assert.equal(parseAddress(bad), undefined, bad);
    }
    assert.equal(canonicalAddress('not-an-ip'), 'not-an-ip');
  });

  it('classifies non-unicast and unusable addresses', () => {
    const problem = (s: string) => unicastProblem(parseAddress(s)!);
    assert.match(problem('0.0.0.0')!, /unspecified/);
    assert.match(problem('127.0.0.1')!, /loopback/);
    assert.match(problem('224.0.0.1')!, /multicast/);
    assert.match(problem('255.255.255.255')!, /broadcast/);
    assert.match(problem('240.0.0.1')!, /reserved/);
    assert.match(problem('::')!, /unspecified/);
    assert.match(problem('::1')!, /loopback/);
    assert.match(problem('ff02::1')!, /multicast/);
    assert.match(problem('::ffff:198.19.0.2')!, /IPv4-mapped/);
    for (const ok of ['198.19.0.2', '10.0.0.1', '169.254.1.1', '2001:db8::1', 'fe80::1']) assert.equal(problem(ok), undefined, ok);
  });
});

describe('firewall addresses: validateEndpoints', () => {
  it('accepts unicast addresses of one family with a local destination, canonicalized', () => {
    assert.deepEqual(validateEndpoints('198.19.0.2', '198.19.0.3', LOCAL), {
      family: 'ipv4',
      source: '198.19.0.2',
      destination: '198.19.0.3',
    });
    assert.deepEqual(validateEndpoints('2001:DB8:0:1::0002', '2001:db8:0:1:0:0:0:3', LOCAL), {
      family: 'ipv6',
      source: '2001:db8:0:1::2',
      destination: '2001:db8:0:1::3',
    });
  });

  it('names the field and says what to fix', () => {
    rejects(() => validateEndpoints('', '198.19.0.3', LOCAL), 'source', /missing; give the source host's migration-network address/);
    rejects(() => validateEndpoints('lab2', '198.19.0.3', LOCAL), 'source', /not an IPv4 or IPv6 address/);
    rejects(() => validateEndpoints('198.19.0.0/24', '198.19.0.3', LOCAL), 'source', /network, not an address/);
    rejects(() => validateEndpoints('fe80::2%eth1', '198.19.0.3', LOCAL), 'source', /zone ids are not supported/);
    rejects(() => validateEndpoints('224.0.0.5', '198.19.0.3', LOCAL), 'source', /multicast address; give .*unicast/);
    rejects(() => validateEndpoints('198.19.0.2', '0.0.0.0', LOCAL), 'destination', /unspecified/);
    rejects(() => validateEndpoints('198.19.0.2', '127.0.0.1', [...LOCAL, '127.0.0.1']), 'destination', /loopback/);
    rejects(
      () => validateEndpoints('2001:db8:0:1::2', '198.19.0.3', LOCAL),
      'destination',
      /IPv4 but source .* is IPv6; give both addresses in the same family/,
    );
    rejects(() => validateEndpoints('198.19.0.2', '198.19.0.9', LOCAL), 'destination', /not an address of this host.*198\.19\.0\.3/);
    rejects(() => validateEndpoints('198.19.0.3', '198.19.0.3', LOCAL), 'source', /this host's own address/);
    rejects(() => validateEndpoints(42 as unknown as string, '198.19.0.3', LOCAL), 'source', /missing/);
  });

  it('compares the destination with local addresses in canonical form', () => {
    assert.equal(
      validateEndpoints('2001:db8:0:1::2', '2001:db8:0:1::3', ['2001:0db8:0000:0001:0000:0000:0000:0003']).destination,
      '2001:db8:0:1::3',
    );
  });

  it("defaultLocalAddresses lists this host's interface addresses without zones", () => {
    const addrs = defaultLocalAddresses();
    assert.ok(addrs.includes('127.0.0.1'));
    assert.ok(addrs.every((a) => !a.includes('%')));
  });
});
