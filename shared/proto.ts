/**
 * Loads Ferry's gRPC contract (proto/ferry/v1) at run time with proto-loader.
 * The TypeScript types in shared/generated/ come from the same files through
 * proto-loader's generator (scripts/gen-proto); LOADER_OPTIONS must describe
 * the same representation as that script's flags.
 */
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { ProtoGrpcType as MigrationProto } from './generated/migration.js';
import type { ProtoGrpcType as PeerProto } from './generated/peer.js';
import type { ProtoGrpcType as HostProto } from './generated/host.js';

/** proto/ at the repository (or installed package) root. */
export const PROTO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../proto');

export const PROTO_FILES = ['ferry/v1/migration.proto', 'ferry/v1/peer.proto', 'ferry/v1/host.proto', 'ferry/v1/errors.proto'];

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

export type FerryProto = MigrationProto & PeerProto & HostProto;

let cached: { definition: protoLoader.PackageDefinition; grpcObject: FerryProto } | undefined;

/** The package definition (for reflection) and the typed gRPC object. */
export function loadFerryProto(): { definition: protoLoader.PackageDefinition; grpcObject: FerryProto } {
  if (!cached) {
    const definition = protoLoader.loadSync(PROTO_FILES, LOADER_OPTIONS);
    cached = { definition, grpcObject: grpc.loadPackageDefinition(definition) as unknown as FerryProto };
  }
  return cached;
}
