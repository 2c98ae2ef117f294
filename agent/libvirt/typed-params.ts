// libvirt typed parameters (virTypedParameter): named values of seven types, used for migration
// parameters, job statistics, the job-completed event and save/restore parameters.
//
// On the wire (remote_typed_param) the value is a union switched on a type number. Here a
// parameter is `{ field, type, value }` with `type` a readable name, and 64-bit types are
// bigint so byte counts are exact. Encoding validates ranges so bad input is a clear
// XdrEncodeError naming the field, never a silently truncated number.

import { XdrEncodeError } from './errors.js';
import {
  VIR_TYPED_PARAM_BOOLEAN,
  VIR_TYPED_PARAM_DOUBLE,
  VIR_TYPED_PARAM_INT,
  VIR_TYPED_PARAM_LLONG,
  VIR_TYPED_PARAM_STRING,
  VIR_TYPED_PARAM_UINT,
  VIR_TYPED_PARAM_ULLONG,
  type TypedParamTypeName,
} from './generated/constants.gen.js';
import type { RemoteTypedParam, RemoteTypedParamValue } from './generated/remote_protocol.gen.js';

export type TypedParamType = TypedParamTypeName;

export type TypedParam =
  | { field: string; type: 'INT' | 'UINT' | 'DOUBLE'; value: number }
  | { field: string; type: 'LLONG' | 'ULLONG'; value: bigint }
  | { field: string; type: 'BOOLEAN'; value: boolean }
  | { field: string; type: 'STRING'; value: string };

export type TypedValue = number | bigint | boolean | string;

/** An explicitly typed value, for fields whose type can't be inferred. */
export interface Typed {
  type: TypedParamType;
  value: TypedValue;
}

/** Input form: field → value, value list (for "multiple" fields) or explicitly typed value. */
export type TypedParamInput = Record<string, TypedValue | Typed | ReadonlyArray<TypedValue | Typed>>;

const TYPE_NUMBERS = {
  INT: VIR_TYPED_PARAM_INT,
  UINT: VIR_TYPED_PARAM_UINT,
  LLONG: VIR_TYPED_PARAM_LLONG,
  ULLONG: VIR_TYPED_PARAM_ULLONG,
  DOUBLE: VIR_TYPED_PARAM_DOUBLE,
  BOOLEAN: VIR_TYPED_PARAM_BOOLEAN,
  STRING: VIR_TYPED_PARAM_STRING,
} as const satisfies Record<TypedParamType, number>;

/** Type-checks and normalizes one parameter (numbers → bigint for 64-bit types). */
export function typedParam(field: string, type: TypedParamType, value: TypedValue): TypedParam {
  const bad = (why: string): never => {
    throw new XdrEncodeError(`typed parameter ${JSON.stringify(field)} (${type}): ${why}, got ${typeof value} ${String(value)}`);
  };
  switch (type) {
    case 'INT':
    case 'UINT': {
      if (typeof value === 'bigint') value = Number(value);
      if (typeof value !== 'number' || !Number.isInteger(value)) bad('expected an integer');
      const [lo, hi] = type === 'INT' ? [-0x8000_0000, 0x7fff_ffff] : [0, 0xffff_ffff];
      if ((value as number) < lo || (value as number) > hi) bad(`out of range [${lo}, ${hi}]`);
      return { field, type, value: value as number };
    }
    case 'LLONG':
    case 'ULLONG': {
      if (typeof value === 'number') {
        if (!Number.isSafeInteger(value)) bad('expected a safe integer or a bigint');
        value = BigInt(value);
      }
      if (typeof value !== 'bigint') bad('expected an integer');
      const [lo, hi] = type === 'LLONG' ? [-(1n << 63n), (1n << 63n) - 1n] : [0n, (1n << 64n) - 1n];
      if ((value as bigint) < lo || (value as bigint) > hi) bad('out of 64-bit range');
      return { field, type, value: value as bigint };
    }
    case 'DOUBLE':
      if (typeof value !== 'number') bad('expected a number');
      return { field, type, value: value as number };
    case 'BOOLEAN':
      if (typeof value !== 'boolean') bad('expected a boolean');
      return { field, type, value: value as boolean };
    case 'STRING':
      if (typeof value !== 'string') bad('expected a string');
      return { field, type, value: value as string };
    default:
      throw new XdrEncodeError(`typed parameter ${JSON.stringify(field)}: unknown type ${String(type)}`);
  }
}

function isTyped(v: unknown): v is Typed {
  return typeof v === 'object' && v !== null && 'type' in v && 'value' in v;
}

/**
 * Builds a parameter list from a record. A field's type comes from (1) an explicit {type, value},
 * (2) `schema` (libvirt's documented types, see typedParamSchema in constants.gen.ts), or (3) the
 * JS type for strings and booleans. A bare number for an unknown field is rejected: INT, UINT,
 * LLONG and ULLONG are different on the wire and guessing wrong makes libvirt refuse the call.
 */
export function buildTypedParams(input: TypedParamInput, schema: Readonly<Record<string, TypedParamType>> = {}): TypedParam[] {
  const out: TypedParam[] = [];
  for (const [field, raw] of Object.entries(input)) {
    const values = Array.isArray(raw) ? raw : [raw];
    for (const v of values as Array<TypedValue | Typed>) {
      if (v === undefined) continue;
      if (isTyped(v)) {
        out.push(typedParam(field, v.type, v.value));
        continue;
      }
      const known = schema[field];
      if (known) {
        out.push(typedParam(field, known, v));
        continue;
      }
      if (typeof v === 'string') out.push(typedParam(field, 'STRING', v));
      else if (typeof v === 'boolean') out.push(typedParam(field, 'BOOLEAN', v));
      else {
        throw new XdrEncodeError(
          `typed parameter ${JSON.stringify(field)}: type unknown for a ${typeof v}; pass { type: 'INT'|'UINT'|'LLONG'|'ULLONG'|'DOUBLE', value }`,
        );
      }
    }
  }
  return out;
}

export function toWire(p: TypedParam): RemoteTypedParam {
  const v = typedParam(p.field, p.type, p.value); // re-validate: callers may build these by hand
  let value: RemoteTypedParamValue;
  switch (v.type) {
    case 'INT':
      value = { type: TYPE_NUMBERS.INT, i: v.value };
      break;
    case 'UINT':
      value = { type: TYPE_NUMBERS.UINT, ui: v.value };
      break;
    case 'LLONG':
      value = { type: TYPE_NUMBERS.LLONG, l: v.value };
      break;
    case 'ULLONG':
      value = { type: TYPE_NUMBERS.ULLONG, ul: v.value };
      break;
    case 'DOUBLE':
      value = { type: TYPE_NUMBERS.DOUBLE, d: v.value };
      break;
    case 'BOOLEAN':
      value = { type: TYPE_NUMBERS.BOOLEAN, b: v.value ? 1 : 0 };
      break;
    case 'STRING':
      value = { type: TYPE_NUMBERS.STRING, s: v.value };
      break;
  }
  return { field: v.field, value };
}

export function fromWire(p: RemoteTypedParam): TypedParam {
  const v = p.value;
  switch (v.type) {
    case 1:
      return { field: p.field, type: 'INT', value: v.i };
    case 2:
      return { field: p.field, type: 'UINT', value: v.ui };
    case 3:
      return { field: p.field, type: 'LLONG', value: v.l };
    case 4:
      return { field: p.field, type: 'ULLONG', value: v.ul };
    case 5:
      return { field: p.field, type: 'DOUBLE', value: v.d };
    case 6:
      return { field: p.field, type: 'BOOLEAN', value: v.b !== 0 };
    case 7:
      return { field: p.field, type: 'STRING', value: v.s };
  }
}

/** field → value (the last one wins for repeated fields). */
export function typedParamsToRecord(params: readonly TypedParam[]): Record<string, TypedValue> {
  const out: Record<string, TypedValue> = {};
  for (const p of params) out[p.field] = p.value;
  return out;
}

/** A numeric field as a JS number (bigint converted; precision loss above 2^53 is accepted). */
export function numberField(rec: Readonly<Record<string, TypedValue>>, field: string): number | undefined {
  const v = rec[field];
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}
