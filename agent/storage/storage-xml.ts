/**
 * The storage XML Ferry writes and reads (libvirt's formats:
 * https://libvirt.org/formatstorage.html): the directory pool it defines
 * for a directory no pool covers, the volume it creates for an arriving
 * copy, and what it needs of a volume's description (its format, and the
 * backing file a copy would lose).
 */
import { escapeXml, unescapeXml } from '../libvirt/index.js';
import { createHash } from 'node:crypto';

/** Ferry's pools are named so: an operator sees at once who defined them. */
export const POOL_NAME_PREFIX = 'ferry-';

/**
 * The pool of a directory: `ferry-` and the first 12 hex digits of the
 * SHA-256 of its absolute path, and a UUID from the same digest. Both are
 * stable, so defining the pool again (another migration, another agent
 * run) redefines the same pool instead of adding one (libvirt refuses a
 * second pool of the same name with another UUID).
 */
export function directoryPoolIdentity(dir: string): { name: string; uuid: string } {
  const digest = createHash('sha256').update(dir).digest();
  const name = `${POOL_NAME_PREFIX}${digest.subarray(0, 6).toString('hex')}`;
  const bytes = Buffer.from(digest.subarray(0, 16));
  // RFC 9562 layout: version 8 (derived by the application), variant 10.
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { name, uuid };
}

/** A directory pool for `dir` (https://libvirt.org/storage.html#directory-pool). */
export function directoryPoolXml(dir: string): string {
  const { name, uuid } = directoryPoolIdentity(dir);
  return `<pool type='dir'><name>${name}</name><uuid>${uuid}</uuid><target><path>${escapeXml(dir)}</path></target></pool>`;
}

/** An empty volume of this format and virtual size; allocation 0, so a qcow2 holds only its metadata and a raw file is all hole. */
export function volumeXml(name: string, format: string, capacityBytes: number): string {
  return (
    `<volume><name>${escapeXml(name)}</name>` +
    `<capacity unit='bytes'>${capacityBytes}</capacity><allocation unit='bytes'>0</allocation>` +
    `<target><format type='${escapeXml(format)}'/></target></volume>`
  );
}

/** What describe needs of virStorageVolGetXMLDesc's answer. */
export interface VolumeDescription {
  /** <target><format type=…>, '' when the XML has none. */
  format: string;
  /** <backingStore><path>, '' when the volume has no backing file. */
  backingPath: string;
}

export function parseVolumeXml(xml: string): VolumeDescription {
  // The target's own format: <backingStore> has a <format> of its own, which is not the volume's.
  const target = /<target>([\s\S]*?)<\/target>/.exec(xml)?.[1] ?? '';
  const format = /<format\s+type=['"]([^'"]*)['"]/.exec(target)?.[1] ?? '';
  const backing = /<backingStore>([\s\S]*?)<\/backingStore>/.exec(xml)?.[1] ?? '';
  const backingPath = /<path>([^<]*)<\/path>/.exec(backing)?.[1] ?? '';
  return { format, backingPath: unescapeXml(backingPath) };
}
