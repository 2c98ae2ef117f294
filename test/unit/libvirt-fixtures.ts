// Shared helpers for the libvirt unit tests (not a test file itself).

/** Hex fixture: whitespace and `// comments` are ignored, so fixtures can be annotated by field. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\/\/[^\n]*/g, '').replace(/\s+/g, ''), 'hex');
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` until true or throws after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs = 2_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
