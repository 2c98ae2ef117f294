// Shared helpers for the libvirt unit tests (not a test file itself).

/** Hex fixture: whitespace and `// comments` are ignored, so fixtures can be annotated by field. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\/\/[^\n]*/g, '').replace(/\s+/g, ''), 'hex');
}
