/**
 * google.rpc.Status with its error details, in the binary form that travels in
 * the `grpc-status-details-bin` trailer (Google's error model: AIP-193,
 * https://google.aip.dev/193). The message definitions are Google's own
 * google/rpc/status.proto and error_details.proto from the google-proto-files
 * package, turned into a protobufjs descriptor at build time (scripts/gen-proto;
 * the package is a development dependency): any gRPC client that knows those
 * messages reads Ferry's errors without Ferry's code. Only the four detail messages
 * Ferry sends are read back; others are skipped.
 */
import protobuf from 'protobufjs';
import type { PreconditionViolation } from './errors.js';
import { GOOGLE } from './generated/google-rpc.js';

export interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

export interface FieldViolation {
  field: string;
  description: string;
}

export type { PreconditionViolation };

/** A google.rpc.Status and the details Ferry uses, as plain values. */
export interface RichStatus {
  code: number;
  message: string;
  errorInfo?: ErrorInfo;
  badRequest?: { fieldViolations: FieldViolation[] };
  preconditionFailure?: { violations: PreconditionViolation[] };
  retryInfo?: { retryDelayMs: number };
}

const TYPE_URL_PREFIX = 'type.googleapis.com/';

interface RpcTypes {
  status: protobuf.Type;
  any: protobuf.Type;
  errorInfo: protobuf.Type;
  badRequest: protobuf.Type;
  preconditionFailure: protobuf.Type;
  retryInfo: protobuf.Type;
}

let types: RpcTypes | undefined;

function rpcTypes(): RpcTypes {
  if (!types) {
    const root = protobuf.Root.fromJSON({ nested: { google: GOOGLE } });
    types = {
      status: root.lookupType('google.rpc.Status'),
      any: root.lookupType('google.protobuf.Any'),
      errorInfo: root.lookupType('google.rpc.ErrorInfo'),
      badRequest: root.lookupType('google.rpc.BadRequest'),
      preconditionFailure: root.lookupType('google.rpc.PreconditionFailure'),
      retryInfo: root.lookupType('google.rpc.RetryInfo'),
    };
  }
  return types;
}

function pack(type: protobuf.Type, value: object): protobuf.Message {
  const { any } = rpcTypes();
  // protobufjs' bundled google.protobuf.Any keeps the proto's field name type_url.
  return any.create({
    type_url: `${TYPE_URL_PREFIX}${type.fullName.replace(/^\./, '')}`,
    value: type.encode(type.fromObject(value)).finish(),
  });
}

/** The bytes of a google.rpc.Status carrying the given details. */
export function encodeStatus(status: RichStatus): Buffer {
  const t = rpcTypes();
  const details: protobuf.Message[] = [];
  if (status.errorInfo) details.push(pack(t.errorInfo, status.errorInfo));
  if (status.badRequest) details.push(pack(t.badRequest, status.badRequest));
  if (status.preconditionFailure) details.push(pack(t.preconditionFailure, status.preconditionFailure));
  if (status.retryInfo) {
    const ms = Math.max(0, Math.round(status.retryInfo.retryDelayMs));
    details.push(pack(t.retryInfo, { retryDelay: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 } }));
  }
  const message = t.status.create({ code: status.code, message: status.message, details });
  return Buffer.from(t.status.encode(message).finish());
}

const OBJECT_OPTIONS: protobuf.IConversionOptions = { longs: Number, defaults: true, arrays: true, objects: true };

/** Reads a google.rpc.Status; throws when the bytes are not one. */
export function decodeStatus(bytes: Uint8Array): RichStatus {
  const t = rpcTypes();
  const decoded = t.status.toObject(t.status.decode(bytes), { ...OBJECT_OPTIONS, bytes: Buffer }) as {
    code: number;
    message: string;
    details: Array<{ type_url: string; value: Buffer }>;
  };
  const status: RichStatus = { code: decoded.code, message: decoded.message };
  for (const detail of decoded.details) {
    const name = detail.type_url.slice(detail.type_url.lastIndexOf('/') + 1);
    const read = (type: protobuf.Type): unknown => type.toObject(type.decode(detail.value), OBJECT_OPTIONS);
    switch (name) {
      case 'google.rpc.ErrorInfo':
        status.errorInfo = read(t.errorInfo) as ErrorInfo;
        break;
      case 'google.rpc.BadRequest': {
        const { fieldViolations } = read(t.badRequest) as { fieldViolations: FieldViolation[] };
        status.badRequest = { fieldViolations: fieldViolations.map(({ field, description }) => ({ field, description })) };
        break;
      }
      case 'google.rpc.PreconditionFailure':
        status.preconditionFailure = read(t.preconditionFailure) as { violations: PreconditionViolation[] };
        break;
      case 'google.rpc.RetryInfo': {
        const { retryDelay } = read(t.retryInfo) as { retryDelay?: { seconds: number; nanos: number } | null };
        status.retryInfo = { retryDelayMs: retryDelay ? retryDelay.seconds * 1000 + Math.round(retryDelay.nanos / 1_000_000) : 0 };
        break;
      }
    }
  }
  return status;
}
