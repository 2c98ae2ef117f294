// libvirt's failures become FerryErrors with a reason a program can switch on,
// keeping libvirt's code and name (agent/hypervisor/libvirt-errors.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallTimeoutError, ConnectionError, InterruptedError, LibvirtError } from '../../agent/libvirt/errors.js';
import { toFerryError } from '../../agent/hypervisor/libvirt-errors.js';
import { FerryError } from '../../shared/errors.js';

function translated(err: unknown): FerryError {
  const out = toFerryError(err, '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50');
  assert.ok(out instanceof FerryError, String(out));
  return out;
}

test('VIR_ERR_NO_DOMAIN is NOT_FOUND with reason VM_NOT_FOUND and libvirt code and name', () => {
  const e = translated(new LibvirtError(42, 10, 'Domain not found', 2, 'DOMAIN_LOOKUP_BY_UUID'));
  assert.equal(e.kind, 'NOT_FOUND');
  assert.deepEqual(e.details, { reason: 'VM_NOT_FOUND', libvirtCode: 42, libvirtName: 'VIR_ERR_NO_DOMAIN' });
});

test('any other libvirt error is LIBVIRT_ERROR, its kind following the code', () => {
  const e = translated(new LibvirtError(55, 10, 'Requested operation is not valid', 2, 'DOMAIN_MIGRATE_PERFORM3_PARAMS'));
  assert.equal(e.kind, 'FAILED_PRECONDITION');
  assert.equal(e.reason, 'LIBVIRT_ERROR');
  assert.equal(e.details.libvirtName, 'VIR_ERR_OPERATION_INVALID');
});

test('a lost or missing daemon is LIBVIRT_UNAVAILABLE; a call without answer LIBVIRT_TIMEOUT', () => {
  for (const err of [
    new ConnectionError('unix:/run/libvirt/libvirt-sock', 'ECONNREFUSED'),
    new InterruptedError('DOMAIN_GET_STATE', 'unix:/x'),
  ]) {
    const e = translated(err);
    assert.equal(e.kind, 'UNAVAILABLE');
    assert.equal(e.reason, 'LIBVIRT_UNAVAILABLE');
  }
  const slow = translated(new CallTimeoutError('DOMAIN_GET_STATE', 10));
  assert.equal(slow.kind, 'DEADLINE_EXCEEDED');
  assert.equal(slow.reason, 'LIBVIRT_TIMEOUT');
});

test('a FerryError passes through unchanged', () => {
  const own = new FerryError('INVALID_ARGUMENT', 'x', { reason: 'FIELD_REQUIRED' });
  assert.equal(toFerryError(own, 'vm'), own);
});
