/**
 * Canonical proto3 JSON (https://protobuf.dev/programming-guides/json/), what
 * grpcurl and every language's JSON printer give for the same message:
 * lowerCamelCase names, enums by name, 64-bit integers as strings, Timestamp
 * as RFC 3339 in UTC, Duration as "1.500s", fields at their default omitted
 * (fields with presence, proto3 `optional` and oneof members, are printed
 * whenever they are set). Messages come as proto-loader delivers them
 * (LOADER_OPTIONS in proto.ts); the schema is read from the same .proto files
 * with protobufjs, so a field added to the contract needs no change here.
 */
import path from 'node:path';
import protobuf from 'protobufjs';
import { PROTO_FILES, PROTO_ROOT } from './proto.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

let root: protobuf.Root | undefined;

function schema(): protobuf.Root {
  if (!root) {
    const r = new protobuf.Root();
    // google/protobuf/*.proto are protobufjs' own copies of the well-known types.
    r.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : path.join(PROTO_ROOT, target));
    r.loadSync(PROTO_FILES, { keepCase: false });
    root = r;
  }
  return root;
}

/** A message type of the contract by its full name, e.g. "ferry.v1.MigrationProgress". */
export function messageType(fullName: string): protobuf.Type {
  return schema().lookupType(fullName);
}

/** The canonical JSON value of a message of type `fullName`. */
export function toProto3Json(fullName: string, message: object): JsonValue {
  return messageJson(messageType(fullName), message);
}

/** The message as canonical JSON text: indented for a person, or one line (for a stream, one message per line). */
export function formatProto3Json(fullName: string, message: object, style: 'indented' | 'line' = 'indented'): string {
  return JSON.stringify(toProto3Json(fullName, message), null, style === 'indented' ? 2 : undefined);
}

function messageJson(type: protobuf.Type, message: object): JsonValue {
  const special = WELL_KNOWN[type.fullName];
  if (special) return special(message as TimeLike);
  if (type.fullName.startsWith('.google.protobuf.') && type.fieldsArray.length > 0) {
    throw new Error(`no JSON mapping for ${type.fullName.slice(1)} here: add it to WELL_KNOWN in shared/proto-json.ts`);
  }
  const values = message as Record<string, unknown>;
  const out: { [key: string]: JsonValue } = {};
  for (const field of type.fieldsArray) {
    field.resolve();
    const value = values[field.name];
    if (value === undefined || value === null) continue;
    if (field.map) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length > 0) out[field.name] = Object.fromEntries(entries.map(([k, v]) => [k, fieldJson(field, v)]));
    } else if (field.repeated) {
      const items = value as unknown[];
      if (items.length > 0) out[field.name] = items.map((item) => fieldJson(field, item));
    } else if (field.hasPresence || !isDefault(field, value)) {
      out[field.name] = fieldJson(field, value);
    }
  }
  return out;
}

/** A proto3 field without presence is omitted at its zero value. Message fields have presence (null when unset). */
function isDefault(field: protobuf.Field, value: unknown): boolean {
  if (field.resolvedType instanceof protobuf.Enum) return enumNumber(field.resolvedType, value) === 0;
  if (field.resolvedType instanceof protobuf.Type) return false;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return value.length === 0;
  return value === 0 || value === '' || value === false || value === '0';
}

function fieldJson(field: protobuf.Field, value: unknown): JsonValue {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return messageJson(resolved, value as object);
  if (resolved instanceof protobuf.Enum) return enumJson(resolved, value);
  return scalarJson(field.type, value);
}

function enumNumber(type: protobuf.Enum, value: unknown): number | undefined {
  return typeof value === 'number' ? value : type.values[String(value)];
}

/** An enum by its name; a number the schema does not name stays a number (as proto3 JSON allows). */
function enumJson(type: protobuf.Enum, value: unknown): JsonValue {
  if (typeof value === 'string' && Object.hasOwn(type.values, value)) return value;
  const number = enumNumber(type, value);
  if (number === undefined) throw new Error(`${String(value)} is not a value of ${type.fullName.slice(1)}`);
  return type.valuesById[number] ?? number;
}

const SIXTY_FOUR_BIT = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function scalarJson(type: string, value: unknown): JsonValue {
  if (SIXTY_FOUR_BIT.has(type)) return String(value);
  if (type === 'bytes') return Buffer.from(value as Uint8Array).toString('base64');
  if ((type === 'double' || type === 'float') && typeof value === 'number' && !Number.isFinite(value)) {
    return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  }
  return value as JsonValue;
}

// --- Well-known types -----------------------------------------------------------

interface TimeLike {
  seconds: number | string;
  nanos: number;
}

/** "", ".5" → ".500", ".000001" …: 0, 3, 6 or 9 digits, as the spec's printers write. */
function fraction(nanos: number): string {
  if (nanos === 0) return '';
  const digits = String(nanos).padStart(9, '0');
  if (nanos % 1_000_000 === 0) return `.${digits.slice(0, 3)}`;
  if (nanos % 1_000 === 0) return `.${digits.slice(0, 6)}`;
  return `.${digits}`;
}

/** Duration: seconds with the fraction, "s" suffix, sign in front ("-1.500s"). */
function durationJson(d: TimeLike): string {
  const seconds = Number(d.seconds);
  const negative = seconds < 0 || d.nanos < 0;
  return `${negative ? '-' : ''}${Math.abs(seconds)}${fraction(Math.abs(d.nanos))}s`;
}

/** Timestamp: RFC 3339 in UTC with "Z". */
function timestampJson(t: TimeLike): string {
  const whole = new Date(Number(t.seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  return `${whole}${fraction(t.nanos)}Z`;
}

const WELL_KNOWN: Readonly<Record<string, (value: TimeLike) => JsonValue>> = {
  '.google.protobuf.Duration': durationJson,
  '.google.protobuf.Timestamp': timestampJson,
};
