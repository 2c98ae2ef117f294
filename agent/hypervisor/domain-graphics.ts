/**
 * Where a domain's VNC and SPICE consoles listen, and the same domain XML
 * with some of those addresses replaced by the destination's display address
 * (libvirt's <graphics>, https://libvirt.org/formatdomain.html#graphical-framebuffers).
 *
 * A console listens on an address when its <listen type='address'> child
 * names one, or, for a <graphics> without <listen> children, when its
 * `listen` attribute does (the older form). With children, the attribute only
 * mirrors the first child's address: libvirt requires them equal for type
 * 'address', so both change together; for type 'network' the address is the
 * network's and the destination resolves its own. 'none' and 'socket'
 * listens have no address. The rewrite touches only those attribute values:
 * every other byte of the document stays as libvirt wrote it, passwd and
 * autoport included.
 */
import type { DisplayListen } from '../migration/index.js';
import { attr } from './domain-xml.js';

const CONSOLE_TYPES = new Set<string>(['vnc', 'spice']);

const GRAPHICS = /<graphics\b([^>]*?)(\/>|>([\s\S]*?)<\/graphics>)/g;
const LISTEN = /<listen\b[^>]*>/g;

/** Every console that listens on one IP address or host name, in document order. */
export function displayListensOf(domainXml: string): DisplayListen[] {
  const found: DisplayListen[] = [];
  for (const graphics of domainXml.matchAll(GRAPHICS)) {
    const type = attr(graphics[1] ?? '', 'type') ?? '';
    if (!CONSOLE_TYPES.has(type)) continue;
    for (const address of addressesOf(graphics[1] ?? '', graphics[3] ?? '')) {
      found.push({ graphics: type as DisplayListen['graphics'], address });
    }
  }
  return found;
}

/**
 * The document with every console address listed in `replace` set to
 * `address`; `replaced` counts the consoles changed (0: the document is
 * returned as it was).
 */
export function withDisplayAddress(domainXml: string, replace: readonly string[], address: string): { xml: string; replaced: number } {
  const wanted = new Set(replace);
  let replaced = 0;
  const xml = domainXml.replace(GRAPHICS, (element: string, attributes: string, _end: string, body: string | undefined) => {
    if (!CONSOLE_TYPES.has(attr(attributes, 'type') ?? '')) return element;
    const children = listensOf(body ?? '');
    const first = children[0];
    // The attribute mirrors the first child; a <graphics> with a network listen first keeps its own.
    const mirrorsAddress = first === undefined || attr(first, 'type') === 'address';
    const startTag = mirrorsAddress ? setAttribute(attributes, 'listen', wanted, address) : attributes;
    const newBody = (body ?? '').replace(LISTEN, (listen) =>
      attr(listen, 'type') === 'address' ? setAttribute(listen, 'address', wanted, address) : listen,
    );
    const rewritten = body === undefined ? `<graphics${startTag}/>` : `<graphics${startTag}>${newBody}</graphics>`;
    if (rewritten !== element) replaced++;
    return rewritten;
  });
  return { xml: replaced > 0 ? xml : domainXml, replaced };
}

function addressesOf(attributes: string, body: string): string[] {
  const children = listensOf(body);
  if (children.length === 0) {
    const listen = attr(attributes, 'listen');
    return listen ? [listen] : [];
  }
  return children.filter((l) => attr(l, 'type') === 'address').flatMap((l) => attr(l, 'address') ?? []);
}

function listensOf(body: string): string[] {
  return body.match(LISTEN) ?? [];
}

/** The attribute's value replaced when it is one of `from`; the text around it untouched. */
function setAttribute(text: string, name: string, from: ReadonlySet<string>, to: string): string {
  return text.replace(new RegExp(`(\\s${name}=)(['"])([^'"]*)\\2`), (whole, prefix: string, quote: string, value: string) =>
    from.has(value) ? `${prefix}${quote}${to}${quote}` : whole,
  );
}
