// CIDR parsing and membership, IPv4 and IPv6, as used for migration.network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, cidrContains, type Cidr } from '../../shared/cidr.js';

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  assert.ok(typeof parsed !== 'string', String(parsed));
  return parsed;
}

test('parses and canonicalises', () => {
  assert.deepEqual(cidr('198.19.0.0/24'), { family: 4, address: '198.19.0.0', prefix: 24, text: '198.19.0.0/24' });
  assert.equal(cidr('0.0.0.0/0').text, '0.0.0.0/0');
  assert.equal(cidr('FD00:0019:0000::/48').text, 'fd00:19::/48');
  assert.equal(cidr('::ffff:198.19.0.0/120').text, '::ffff:c613:0/120');
  assert.equal(cidr('198.19.0.2/32').text, '198.19.0.2/32');
});

test('says what is wrong', () => {
  assert.match(parseCidr('198.19.0.0') as string, /not a CIDR block/);
  assert.match(parseCidr('198.19.0.0/24/1') as string, /not a CIDR block/);
  assert.match(parseCidr('198.19.0/24') as string, /not an IPv4 or IPv6 address/);
  assert.match(parseCidr('fd00::/129') as string, /longer than 128 bits/);
  assert.match(parseCidr('10.1.2.3/8') as string, /did you mean 10\.0\.0\.0\/8\?/);
});

test('membership', () => {
  const v4 = cidr('198.19.0.0/24');
  assert.equal(cidrContains(v4, '198.19.0.2'), true);
  assert.equal(cidrContains(v4, '198.19.1.2'), false);
  assert.equal(cidrContains(v4, '198.18.0.2'), false);
  assert.equal(cidrContains(v4, 'fd00::1'), false);
  assert.equal(cidrContains(v4, 'not-an-ip'), false);
  const v6 = cidr('fd00:19::/64');
  assert.equal(cidrContains(v6, 'fd00:19::2'), true);
  assert.equal(cidrContains(v6, 'fd00:19:0:1::2'), false);
  assert.equal(cidrContains(v6, 'fe80::1%eth1'), false);
  assert.equal(cidrContains(cidr('0.0.0.0/0'), '1.2.3.4'), true);
});
