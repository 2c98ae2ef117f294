// Text inside libvirt's XML documents (domain, pool and volume definitions): what the agent puts
// into an element or attribute, and what it reads back out. One pair, so every reader and writer of
// libvirt XML agrees on paths with &, <, > or quotes in them.

/** Text escaped as libvirt escapes it (virBufferEscapeString in src/util/virbuffer.c: all five, whichever the quote). */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** The text an element or attribute holds: XML's five named entities and numeric character references decoded. */
export function unescapeXml(text: string): string {
  return text.replace(/&(?:lt|gt|apos|quot|amp|#\d+|#x[0-9a-fA-F]+);/g, (entity) => {
    switch (entity) {
      case '&lt;':
        return '<';
      case '&gt;':
        return '>';
      case '&apos;':
        return "'";
      case '&quot;':
        return '"';
      case '&amp;':
        return '&';
      default:
        return String.fromCodePoint(
          entity[2] === 'x' ? Number.parseInt(entity.slice(3, -1), 16) : Number.parseInt(entity.slice(2, -1), 10),
        );
    }
  });
}
