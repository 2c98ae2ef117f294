import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateOpenRequest, type OpenRequestLimits } from '../../agent/firewall/open-request.js';
import { isFerryError } from '../../shared/errors.js';

const LIMITS: OpenRequestLimits = {
  defaultTtlMs: 30_000,
  maxTtlMs: 600_000,
  localAddresses: ['198.19.0.3', '2001:db8::3'],
  families: ['ipv4', 'ipv6'],
};
const OK = { vmId: '6f1c2a9e-0d0b-4c1e-9a51-7b2f3c4d5e6f', jobId: 'job-1', source: '198.19.0.2', destination: '198.19.0.3' };

describe('firewall open request validation', () => {
  it('normalizes a good request and fills the defaults', () => {
    assert.deepEqual(validateOpenRequest(OK, LIMITS), { ...OK, family: 'ipv4', ttlMs: 30_000, portCount: 1 });
    assert.deepEqual(
      validateOpenRequest({ ...OK, source: '2001:DB8:0::2', destination: '2001:db8::3', disksPort: true, ttlMs: 3000 }, LIMITS),
      {
        ...OK,
        source: '2001:db8::2',
        destination: '2001:db8::3',
        family: 'ipv6',
        ttlMs: 3000,
        portCount: 2,
      },
    );
  });

  it('each bad field is INVALID_ARGUMENT naming that field and what to send', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ vmId: undefined }, 'vmId', /must be 1-64 letters/],
      [{ vmId: 'a'.repeat(65) }, 'vmId', /1-64/],
      [{ jobId: '-starts-with-dash' }, 'jobId', /starting with a letter or digit/],
      [{ jobId: 'has space' }, 'jobId', /comment/],
      [{ ttlMs: -5 }, 'ttlMs', /from 1 to 600000/],
      [{ ttlMs: '3000' }, 'ttlMs', /whole number/],
      [{ disksPort: 1 }, 'disksPort', /true or false/],
      [{ source: '198.19.0.3' }, 'source', /own address/],
      [{ destination: '198.19.0.4' }, 'destination', /not an address of this host/],
      [{ source: 'fe80::1' }, 'destination', /same family/],
    ];
    for (const [over, field, msg] of cases) {
      assert.throws(
        () => validateOpenRequest({ ...OK, ...over } as never, LIMITS),
        (e: unknown) => isFerryError(e, 'INVALID_ARGUMENT') && e.details.field === field && msg.test(e.message),
        JSON.stringify(over),
      );
    }
    assert.throws(
      () => validateOpenRequest(null as never, LIMITS),
      (e: unknown) => isFerryError(e, 'INVALID_ARGUMENT') && e.details.field === 'request',
    );
  });

  it('a family the backend does not manage is FAILED_PRECONDITION', () => {
    assert.throws(
      () => validateOpenRequest({ ...OK, source: '2001:db8::2', destination: '2001:db8::3' }, { ...LIMITS, families: ['ipv4'] }),
      (e: unknown) => isFerryError(e, 'FAILED_PRECONDITION') && /IPv6 pinholes are disabled/.test(e.message),
    );
  });
});
