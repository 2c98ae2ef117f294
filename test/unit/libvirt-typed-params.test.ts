// Typed parameters: all seven types to the wire and back, schema-driven inference, and clear
// errors for bad input.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XdrEncodeError } from '../../agent/libvirt/errors.js';
import { typedParamSchema } from '../../agent/libvirt/generated/constants.gen.js';
import { decodeRemoteTypedParam, encodeRemoteTypedParam } from '../../agent/libvirt/generated/remote_protocol.gen.js';
import {
  buildTypedParams,
  fromWire,
  numberField,
  toWire,
  typedParam,
  typedParamsToRecord,
  type TypedParam,
} from '../../agent/libvirt/typed-params.js';
import { XdrReader } from '../../agent/libvirt/wire/xdr-reader.js';
import { XdrWriter } from '../../agent/libvirt/wire/xdr-writer.js';

const all: TypedParam[] = [
  { field: 'auto_converge.initial', type: 'INT', value: -20 },
  { field: 'u', type: 'UINT', value: 0xffffffff },
  { field: 'l', type: 'LLONG', value: -(1n << 62n) },
  { field: 'data_total', type: 'ULLONG', value: (1n << 64n) - 1n },
  { field: 'd', type: 'DOUBLE', value: 3.25 },
  { field: 'flag', type: 'BOOLEAN', value: true },
  { field: 'migrate_uri', type: 'STRING', value: 'tcp://198.19.0.2:49152' },
];

describe('typed parameters', () => {
  for (const p of all) {
    it(`${p.type} survives toWire → XDR → fromWire`, () => {
      const w = new XdrWriter();
      encodeRemoteTypedParam(w, toWire(p));
      const back = fromWire(decodeRemoteTypedParam(new XdrReader(w.finish())));
      assert.deepEqual(back, p);
    });
  }

  it('uses the VIR_TYPED_PARAM_* numbers on the wire', () => {
    assert.deepEqual(
      all.map((p) => toWire(p).value.type),
      [1, 2, 3, 4, 5, 6, 7],
    );
    assert.deepEqual(toWire({ field: 'b', type: 'BOOLEAN', value: false }).value, { type: 6, b: 0 });
  });

  it("infers types from libvirt's documented schema", () => {
    const list = buildTypedParams(
      {
        migrate_uri: 'tcp://198.19.0.2:49152',
        listen_address: '198.19.0.2', // undocumented type: inferred from the JS string
        bandwidth: 100, // ULLONG per schema: number becomes bigint
        'parallel.connections': 4, // INT per schema
      },
      typedParamSchema.migrate,
    );
    assert.deepEqual(list, [
      { field: 'migrate_uri', type: 'STRING', value: 'tcp://198.19.0.2:49152' },
      { field: 'listen_address', type: 'STRING', value: '198.19.0.2' },
      { field: 'bandwidth', type: 'ULLONG', value: 100n },
      { field: 'parallel.connections', type: 'INT', value: 4 },
    ]);
  });

  it('accepts explicit types and repeated fields', () => {
    const list = buildTypedParams({ x: { type: 'UINT', value: 5 }, compression: ['xbzrle', 'mt'] });
    assert.deepEqual(list, [
      { field: 'x', type: 'UINT', value: 5 },
      { field: 'compression', type: 'STRING', value: 'xbzrle' },
      { field: 'compression', type: 'STRING', value: 'mt' },
    ]);
  });

  it('refuses to guess the type of a bare number for an unknown field', () => {
    assert.throws(
      () => buildTypedParams({ mystery: 5 }),
      (e: unknown) => e instanceof XdrEncodeError && /mystery.*type unknown/.test(e.message),
    );
  });

  it('names the field in range and type errors', () => {
    assert.throws(() => typedParam('parallel.connections', 'INT', 2 ** 31), /"parallel.connections" \(INT\): out of range/);
    assert.throws(() => typedParam('bandwidth', 'ULLONG', -1), /"bandwidth" \(ULLONG\): out of 64-bit range/);
    assert.throws(() => typedParam('bandwidth', 'ULLONG', 2 ** 60), /safe integer or a bigint/);
    assert.throws(() => typedParam('migrate_uri', 'STRING', 5), /expected a string/);
    assert.throws(() => buildTypedParams({ bandwidth: 'fast' }, typedParamSchema.migrate), /"bandwidth" \(ULLONG\): expected an integer/);
    assert.throws(() => typedParam('x', 'NOPE' as never, 1), /unknown type/);
  });

  it('turns a list into a record and reads numbers out of it', () => {
    const rec = typedParamsToRecord(all);
    assert.equal(rec.migrate_uri, 'tcp://198.19.0.2:49152');
    assert.equal(numberField(rec, 'd'), 3.25);
    assert.equal(numberField(rec, 'l'), -(2 ** 62));
    assert.equal(numberField(rec, 'migrate_uri'), undefined);
  });
});
