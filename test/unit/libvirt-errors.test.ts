// Error replies: a remote_error payload written out by hand becomes a LibvirtError with libvirt's
// numeric code and its C name, and the predicates classify it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CallTimeoutError,
  ConnectionError,
  errorCodeName,
  InterruptedError,
  isDisconnected,
  isNoDomain,
  isOperationInvalid,
  LibvirtError,
  ProtocolError,
} from '../../agent/libvirt/errors.js';
import { decodeRemoteError } from '../../agent/libvirt/generated/remote_protocol.gen.js';
import { XdrReader } from '../../agent/libvirt/wire/xdr-reader.js';
import { hex } from '../support/libvirt-fixtures.js';

// What libvirtd 9.0.0 sends for virDomainLookupByUUID with an unknown UUID (message shortened).
const noDomain = hex(`
  0000002a                       // code 42 VIR_ERR_NO_DOMAIN
  0000000a                       // domain 10 VIR_FROM_QEMU
  00000001                       // message: present
    00000010 446f6d61 696e206e 6f742066 6f756e64   // "Domain not found" (16)
  00000002                       // level 2 VIR_ERR_ERROR
  00000000                       // dom: absent
  00000001 00000003 61626300     // str1: "abc"
  00000000                       // str2: absent
  00000000                       // str3: absent
  00000007                       // int1 7
  fffffffe                       // int2 -2
  00000000                       // net: absent
`);

describe('remote_error decoding', () => {
  it('decodes every field in order', () => {
    const r = new XdrReader(noDomain);
    const e = decodeRemoteError(r);
    assert.equal(r.remaining, 0);
    assert.deepEqual(e, {
      code: 42,
      domain: 10,
      message: 'Domain not found',
      level: 2,
      dom: null,
      str1: 'abc',
      str2: null,
      str3: null,
      int1: 7,
      int2: -2,
      net: null,
    });
  });

  it('becomes a typed LibvirtError with readable names', () => {
    const e = new LibvirtError(42, 10, 'Domain not found', 2, 'DOMAIN_LOOKUP_BY_UUID');
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'LibvirtError');
    assert.equal(e.code, 42);
    assert.equal(e.codeName, 'VIR_ERR_NO_DOMAIN');
    assert.equal(e.domainName, 'VIR_FROM_QEMU');
    assert.equal(e.levelName, 'VIR_ERR_ERROR');
    assert.equal(e.procedure, 'DOMAIN_LOOKUP_BY_UUID');
    assert.ok(isNoDomain(e));
    assert.ok(!isOperationInvalid(e));
    assert.ok(!isDisconnected(e));
  });

  it('names codes from libvirt-api.xml and tolerates unknown ones', () => {
    assert.equal(errorCodeName(0), 'VIR_ERR_OK');
    assert.equal(errorCodeName(55), 'VIR_ERR_OPERATION_INVALID');
    assert.equal(errorCodeName(88), 'VIR_ERR_ACCESS_DENIED');
    assert.equal(errorCodeName(99999), 'VIR_ERR_UNKNOWN_99999');
  });

  it('classifies connection-level failures', () => {
    assert.ok(isDisconnected(new ConnectionError('unix:/x', 'gone')));
    assert.ok(isDisconnected(new InterruptedError('DOMAIN_GET_STATE', 'unix:/x')));
    assert.ok(isDisconnected(new ProtocolError('bad frame')));
    assert.ok(!isDisconnected(new CallTimeoutError('DOMAIN_GET_STATE', 10)));
    assert.ok(!isNoDomain(new Error('no domain')));
    assert.ok(!isNoDomain(undefined));
  });
});
