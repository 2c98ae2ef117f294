/**
 * Small readers of libvirt's own XML (domain definitions, domain
 * capabilities). libvirt writes it regularly (one element per tag, quoted
 * attributes, no comments or CDATA in these documents), so regular
 * expressions suffice; the core sees only the facts taken from it.
 */
import { unescapeXml } from '../libvirt/index.js';

export interface XmlElement {
  /** The attribute text of the start tag. */
  attributes: string;
  /** What lies between the start and end tag; '' for an empty element. */
  body: string;
  /** The element as written, from its start tag to its end tag. */
  text: string;
}

/** Every element with this tag, in order (not nested in one of the same tag). */
export function elements(xml: string, tag: string): XmlElement[] {
  const found: XmlElement[] = [];
  for (const m of xml.matchAll(new RegExp(`<${tag}\\b([^>]*?)(?:/>|>([\\s\\S]*?)</${tag}>)`, 'g'))) {
    found.push({ attributes: m[1] ?? '', body: m[2] ?? '', text: m[0] });
  }
  return found;
}

export function firstElement(xml: string, tag: string): XmlElement | undefined {
  return elements(xml, tag)[0];
}

/** An attribute's value (entities decoded), undefined when the attribute is absent. */
export function attr(attributes: string, name: string): string | undefined {
  const value = new RegExp(`(?:^|\\s)${name}=(?:'([^']*)'|"([^"]*)")`).exec(attributes);
  if (!value) return undefined;
  return unescapeXml(value[1] ?? value[2] ?? '');
}

/** The text of the first element with this tag, trimmed and decoded; '' when there is none. */
export function textOf(xml: string, tag: string): string {
  return unescapeXml(firstElement(xml, tag)?.body.trim() ?? '');
}

const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  bytes: 1,
  k: 1024,
  KiB: 1024,
  KB: 1000,
  m: 1024 ** 2,
  MiB: 1024 ** 2,
  MB: 1000 ** 2,
  g: 1024 ** 3,
  GiB: 1024 ** 3,
  GB: 1000 ** 3,
  t: 1024 ** 4,
  TiB: 1024 ** 4,
  TB: 1000 ** 4,
};

/** An amount with libvirt's unit attribute (KiB when none is given, as libvirt's schema says). */
export function bytesOf(amount: string, unit: string | undefined): number {
  return Number(amount) * (UNIT_BYTES[unit ?? 'KiB'] ?? UNIT_BYTES[(unit ?? '').toLowerCase()] ?? 1024);
}
