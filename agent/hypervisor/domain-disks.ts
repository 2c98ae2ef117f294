/**
 * The disks copy_storage copies, read from a domain's live XML: file and
 * block disks of device "disk" that the guest can write (read-only and
 * shareable disks live on storage both hosts see, and CD-ROMs are not copied
 * by libvirt). Regular expressions suffice for libvirt's own, regular output.
 */
import type { VmDisk } from '../migration/index.js';
import { attr } from './domain-xml.js';

export type DiskImage = Omit<VmDisk, 'capacityBytes' | 'allocationBytes'>;

export function diskImagesOf(domainXml: string): DiskImage[] {
  const disks: DiskImage[] = [];
  for (const match of domainXml.matchAll(/<disk\b([^>]*)>([\s\S]*?)<\/disk>/g)) {
    const [, attributes = '', body = ''] = match;
    const type = attr(attributes, 'type');
    if (attr(attributes, 'device') !== 'disk' || (type !== 'file' && type !== 'block')) continue;
    if (/<readonly\s*\/>/.test(body) || /<shareable\s*\/>/.test(body)) continue;
    // The disk's own elements, and its <backingStore> chain (nested, cut out whole).
    const [own, chain] = cutBackingChain(body);
    const path = sourceOf(own);
    const target = /<target\b[^>]*\bdev=['"]([^'"]+)['"]/.exec(own)?.[1];
    if (!path || !target) continue;
    const format = /<driver\b[^>]*\btype=['"]([^'"]+)['"]/.exec(own)?.[1] ?? 'raw';
    const backingPath = chain ? sourceOf(chain) : undefined;
    const backingFormat = chain ? /<format\b[^>]*\btype=['"]([^'"]+)['"]/.exec(chain)?.[1] : undefined;
    disks.push({
      target,
      path,
      format,
      ...(backingPath ? { backingPath } : {}),
      ...(backingPath && backingFormat ? { backingFormat } : {}),
    });
  }
  return disks;
}

function sourceOf(xml: string): string | undefined {
  return /<source\b[^>]*\b(?:file|dev)=['"]([^'"]+)['"]/.exec(xml)?.[1];
}

function cutBackingChain(body: string): [string, string] {
  const start = body.indexOf('<backingStore');
  if (start < 0) return [body, ''];
  const close = body.lastIndexOf('</backingStore>');
  const end = close < 0 ? body.indexOf('>', start) + 1 : close + '</backingStore>'.length;
  return [body.slice(0, start) + body.slice(end), body.slice(start, end)];
}
