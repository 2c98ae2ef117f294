/**
 * A domain definition with its file disks at new paths: what a cold
 * migration gives libvirt's offline migration (VIR_MIGRATE_PARAM_DEST_XML)
 * and a relocated restore (dxml), once the destination chose where each
 * volume goes. Only the path inside the disk's own <source file='…'/> changes;
 * every other byte of the document stays as it was, so libvirt's ABI check
 * of the new definition against the old one
 * (qemuDomainCheckABIStability, src/qemu/qemu_migration.c) sees the same
 * guest.
 *
 * In scope: <disk type='file'> of any device (a CD-ROM image that moved
 * follows it like a disk; one that did not move is untouched). Out of scope,
 * left as they are: <disk type='block'> (a device node is not a file the data
 * channel copies), <disk type='volume'> (it names a storage pool and volume,
 * not a path: the destination would need a pool of that name, see
 * https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms),
 * network disks, and an explicit <backingStore> chain (a qcow2 overlay names
 * its backing file in its own header, which no definition rewrites).
 * Regular expressions suffice for libvirt's own, regular output (domain-xml.ts).
 */
import { escapeXml, unescapeXml } from '../libvirt/index.js';
import { FerryError } from '../../shared/errors.js';
import type { DiskMove } from '../migration/index.js';
import { attr } from './domain-xml.js';

/**
 * The definition with each file disk whose source is a move's `from` at its
 * `to`. Compared as decoded paths, whole: /a/disk.qcow2 never matches
 * /a/disk.qcow2.bak. A move that names no disk is ignored (the core's list
 * may carry other volumes, such as a hibernation's saved state).
 */
export function relocateDisks(domainXml: string, moves: readonly DiskMove[]): string {
  const targets = movesByPath(moves);
  if (targets.size === 0) return domainXml;
  return domainXml.replace(/<disk\b([^>]*?)(?:\/>|>([\s\S]*?)<\/disk>)/g, (disk: string, attributes: string, body?: string) => {
    if (body === undefined || attr(attributes, 'type') !== 'file') return disk;
    const bodyStart = disk.length - body.length - '</disk>'.length;
    const source = ownSourceTag(body);
    if (!source) return disk;
    const file = /(\sfile=)(?:'([^']*)'|"([^"]*)")/.exec(source.tag);
    const to = file ? targets.get(unescapeXml(file[2] ?? file[3] ?? '')) : undefined;
    if (!file || to === undefined) return disk;
    const [whole, name = ''] = file;
    const quote = whole.charAt(name.length);
    const tag = source.tag.replace(whole, () => `${name}${quote}${escapeXml(to)}${quote}`);
    const at = bodyStart + source.index;
    return disk.slice(0, at) + tag + disk.slice(at + source.tag.length);
  });
}

function movesByPath(moves: readonly DiskMove[]): Map<string, string> {
  const targets = new Map<string, string>();
  for (const move of moves) {
    const earlier = targets.get(move.from);
    if (earlier !== undefined && earlier !== move.to) {
      throw new FerryError('INVALID_ARGUMENT', `disk ${move.from} is moved twice, to ${earlier} and to ${move.to}`, {
        reason: 'INVALID_FIELD',
      });
    }
    targets.set(move.from, move.to);
  }
  return targets;
}

/** The start tag of the disk's own <source> (not one inside its <backingStore> chain), and where it is in the body. */
function ownSourceTag(body: string): { tag: string; index: number } | undefined {
  const chains = backingStoreRanges(body);
  for (const m of body.matchAll(/<source\b[^>]*>/g)) {
    const index = m.index ?? 0;
    if (!chains.some(([start, end]) => index >= start && index < end)) return { tag: m[0], index };
  }
  return undefined;
}

/** [start, end) of each outermost <backingStore> element (they nest: each holds the next layer). */
function backingStoreRanges(body: string): [number, number][] {
  const ranges: [number, number][] = [];
  let depth = 0;
  let start = 0;
  for (const m of body.matchAll(/<(\/?)backingStore\b[^>]*?(\/?)>/g)) {
    const index = m.index ?? 0;
    const [tag, closing, selfClosing] = m;
    if (closing) {
      depth -= 1;
      if (depth === 0) ranges.push([start, index + tag.length]);
    } else if (selfClosing) {
      if (depth === 0) ranges.push([index, index + tag.length]);
    } else {
      if (depth === 0) start = index;
      depth += 1;
    }
  }
  if (depth > 0) ranges.push([start, body.length]);
  return ranges;
}
