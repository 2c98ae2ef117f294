/**
 * A cold migration's part of PrepareIncoming both ways: the volumes (and a
 * travelling hibernation's definition) the source sends, checked here for
 * shape before the destination's core places them, and the destination's
 * TransferOffer the source reads back. Which paths and room this host
 * accepts is the core's and its storage adapter's.
 */
import type { ColdIncoming as ProtoColdIncoming, ColdIncoming__Output } from '../../shared/generated/ferry/v1/ColdIncoming.js';
import type { ColdVolume__Output } from '../../shared/generated/ferry/v1/ColdVolume.js';
import type { TransferOffer as ProtoTransferOffer, TransferOffer__Output } from '../../shared/generated/ferry/v1/TransferOffer.js';
import { fieldRequired, invalidArgument } from '../../shared/errors.js';
import { requireAbsolutePath, requireText } from '../../shared/validation.js';
import type { ColdIncoming, ColdVolume, TransferOffer } from '../migration/index.js';

/** More would be a VM no one defines by hand; the bound keeps one request's work (and its pool lookups) small. */
export const MAX_COLD_VOLUMES = 64;

const FORMATS: readonly string[] = ['qcow2', 'raw'];

export function coldIncomingFromProto(cold: ColdIncoming__Output): ColdIncoming {
  if (cold.volumes.length > MAX_COLD_VOLUMES) {
    throw invalidArgument('cold.volumes', `has ${cold.volumes.length} volumes; at most ${MAX_COLD_VOLUMES} are allowed`);
  }
  const volumes = cold.volumes.map(volumeFromProto);
  refuseRepeated(volumes, 'id');
  refuseRepeated(volumes, 'path');
  if (!cold.hibernation) return { volumes };
  const { path, content } = cold.hibernation;
  if (!content) throw fieldRequired('cold.hibernation.content', "is required: the definition file's content, as mode FILE wrote it");
  return { volumes, hibernation: { path: requireAbsolutePath('cold.hibernation.path', path), content } };
}

function volumeFromProto(v: ColdVolume__Output, i: number): ColdVolume {
  const field = `cold.volumes[${i}]`;
  const format = requireText(`${field}.format`, v.format, 'the image format, qcow2 or raw');
  if (!FORMATS.includes(format)) throw invalidArgument(`${field}.format`, `${JSON.stringify(format)} is not one of ${FORMATS.join(', ')}`);
  return {
    id: requireText(`${field}.id`, v.id, 'the disk\'s target device (e.g. vda) or "saved-state"'),
    path: requireAbsolutePath(`${field}.path`, v.path),
    format,
    capacityBytes: positive(`${field}.capacity_bytes`, v.capacityBytes, 'the virtual size'),
    streamBytes: positive(`${field}.stream_bytes`, v.streamBytes, "the length of the volume's content, holes included"),
    allocationBytes: v.allocationBytes,
  };
}

function positive(field: string, value: number, what: string): number {
  if (!(value > 0)) throw invalidArgument(field, `is ${value}: give ${what} in bytes, greater than 0`);
  return value;
}

function refuseRepeated(volumes: readonly ColdVolume[], key: 'id' | 'path'): void {
  const seen = new Set<string>();
  volumes.forEach((v, i) => {
    if (seen.has(v[key])) throw invalidArgument(`cold.volumes[${i}].${key}`, `${JSON.stringify(v[key])} is given twice: each volume once`);
    seen.add(v[key]);
  });
}

export function coldIncomingToProto(cold: ColdIncoming): ProtoColdIncoming {
  return { volumes: cold.volumes.map((v) => ({ ...v })), hibernation: cold.hibernation ? { ...cold.hibernation } : null };
}

export function transferOfferToProto(offer: TransferOffer): ProtoTransferOffer {
  return {
    token: offer.token,
    placements: offer.placements.map((p) => ({ id: p.id, sourcePath: p.sourcePath, path: p.path })),
    definitionPath: offer.definitionPath,
  };
}

/** The destination's answer as the core takes it: the token as a Buffer of its own (not a view into the message). */
export function transferOfferFromProto(offer: TransferOffer__Output): TransferOffer {
  return {
    token: Buffer.from(offer.token),
    placements: offer.placements.map((p) => ({ id: p.id, sourcePath: p.sourcePath, path: p.path })),
    definitionPath: offer.definitionPath,
  };
}
