// Volumes for the transfer tests (agent/transfer/): a layout of data runs and holes read as a
// source stream of Buffer chunks and { hole } objects, as the libvirt download gives them,
// generated as it is read so that a big volume never sits in memory; the SHA-256 of its dense
// content computed apart from the code under test; and sinks: a sparse file, a slow one, one that
// fails, one that flips a byte.

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';

export type Extent = { data: number } | { hole: number };

const BLOCK = 1024 * 1024;

/** libvirt's stream packets carry at most this much (agent/libvirt/README.md). */
export const LIBVIRT_CHUNK = 262_120;

/** The byte at every offset comes from here (a length prime to the chunk sizes), so a moved chunk changes the content. */
const PATTERN = (() => {
  const b = Buffer.allocUnsafe(1024 * 1024 + 7);
  let x = 0x9e3779b9;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
})();

/** The data of the volume at `offset`, `length` bytes. */
export function dataAt(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let done = 0; done < length; ) {
    const from = (offset + done) % PATTERN.length;
    const n = Math.min(length - done, PATTERN.length - from);
    PATTERN.copy(out, done, from, from + n);
    done += n;
  }
  return out;
}

export function layoutSize(layout: readonly Extent[]): number {
  return layout.reduce((sum, e) => sum + ('data' in e ? e.data : e.hole), 0);
}

export function dataBytesOf(layout: readonly Extent[]): number {
  return layout.reduce((sum, e) => sum + ('data' in e ? e.data : 0), 0);
}

export interface SourceCounters {
  /** Logical bytes the source has produced so far. */
  produced: number;
}

/** A source stream over a layout, in chunks of at most `chunk` bytes; `counters` follows its progress. */
export function volumeSource(
  layout: readonly Extent[],
  options: { chunk?: number; counters?: SourceCounters; failAfter?: number; delayMs?: number } = {},
): Readable {
  const chunk = options.chunk ?? LIBVIRT_CHUNK;
  const counters = options.counters ?? { produced: 0 };
  async function* generate(): AsyncGenerator<Buffer | { hole: number }> {
    let offset = 0;
    for (const extent of layout) {
      if ('hole' in extent) {
        if (options.failAfter !== undefined && offset >= options.failAfter) throw new Error('the test source broke');
        counters.produced += extent.hole;
        offset += extent.hole;
        yield { hole: extent.hole };
        continue;
      }
      for (let left = extent.data; left > 0; ) {
        if (options.failAfter !== undefined && offset >= options.failAfter) throw new Error('the test source broke');
        if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
        const n = Math.min(left, chunk);
        const data = dataAt(offset, n);
        counters.produced += n;
        offset += n;
        left -= n;
        yield data;
      }
    }
  }
  return Readable.from(generate(), { objectMode: true, highWaterMark: 16 });
}

/** The checksum of the layout's dense content (holes as zeros), computed here without agent/transfer/. */
export function denseChecksum(layout: readonly Extent[]): string {
  const h = createHash('sha256');
  for (let start = 0; start < layoutSize(layout); start += BLOCK) {
    const block = createHash('sha256');
    const end = Math.min(start + BLOCK, layoutSize(layout));
    let extentStart = 0;
    for (const e of layout) {
      const length = 'data' in e ? e.data : e.hole;
      const from = Math.max(start, extentStart);
      const to = Math.min(end, extentStart + length);
      if (from < to) block.update('data' in e ? dataAt(from, to - from) : Buffer.alloc(to - from));
      extentStart += length;
    }
    h.update(block.digest());
  }
  return h.digest('hex');
}

/** The checksum of a file, by coreutils alone: split, sha256sum, basenc (the pipeline volume-chunks.ts documents). */
export function fileChecksum(path: string): string {
  return checksumByCoreutils(['-c', `${PIPELINE} "$1" | sha256sum | cut -c1-64`, 'sh', path]);
}

/** The same pipeline over bytes given on its standard input. */
export function checksumOfBytes(content: Buffer): string {
  return checksumByCoreutils(['-c', `${PIPELINE} - | sha256sum | cut -c1-64`], content);
}

const PIPELINE = `split -b ${BLOCK} --filter='sha256sum | cut -c1-64 | tr a-f A-F | basenc --base16 -d'`;

function checksumByCoreutils(args: string[], input?: Buffer): string {
  return execFileSync('sh', args, input ? { input } : {})
    .toString()
    .trim();
}

/** Writes a volume into a sparse file: data at its offset, holes skipped; the file is cut to size at the end. */
export class SparseFileSink extends Writable {
  private file: FileHandle | null = null;
  private position = 0;
  holes = 0;

  constructor(readonly path: string) {
    super({ objectMode: true, highWaterMark: 16 });
  }

  override _write(chunk: Buffer | { hole: number }, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.write1(chunk).then(() => callback(), callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    (async () => {
      const file = await this.opened();
      await file.truncate(this.position);
      await file.close();
      this.file = null;
    })().then(() => callback(), callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const file = this.file;
    this.file = null;
    if (!file) {
      callback(err);
      return;
    }
    file.close().then(
      () => callback(err),
      () => callback(err),
    );
  }

  private async opened(): Promise<FileHandle> {
    this.file ??= await open(this.path, 'w');
    return this.file;
  }

  private async write1(chunk: Buffer | { hole: number }): Promise<void> {
    const file = await this.opened();
    if (Buffer.isBuffer(chunk)) {
      await file.write(chunk, 0, chunk.length, this.position);
      this.position += chunk.length;
    } else {
      this.position += chunk.hole;
      this.holes += 1;
    }
  }
}

export interface SinkCounters {
  /** Logical bytes the sink has taken so far. */
  consumed: number;
}

/** Takes everything at `bytesPerSecond` (holes are free); counts what it took. */
export function slowSink(bytesPerSecond: number, counters: SinkCounters = { consumed: 0 }): Writable {
  return new Writable({
    objectMode: true,
    highWaterMark: 16,
    write(chunk: Buffer | { hole: number }, _enc, callback) {
      const n = Buffer.isBuffer(chunk) ? chunk.length : chunk.hole;
      const delay = Buffer.isBuffer(chunk) ? (n / bytesPerSecond) * 1000 : 0;
      setTimeout(() => {
        counters.consumed += n;
        callback();
      }, delay);
    },
  });
}

/** Counts what it takes and fails once it has taken `failAfter` logical bytes. */
export function failingSink(failAfter: number): Writable {
  let taken = 0;
  return new Writable({
    objectMode: true,
    write(chunk: Buffer | { hole: number }, _enc, callback) {
      taken += Buffer.isBuffer(chunk) ? chunk.length : chunk.hole;
      callback(taken > failAfter ? new Error('the test sink broke: disk full') : null);
    },
  });
}

/**
 * Wraps a sink and flips, in place, the byte at logical `offset` of the chunk that holds it before
 * the inner sink writes it: a sink that changes what it was given.
 */
export function flipByteAt(inner: Writable, offset: number): Writable {
  let position = 0;
  return new Writable({
    objectMode: true,
    write(chunk: Buffer | { hole: number }, _enc, callback) {
      if (Buffer.isBuffer(chunk) && offset >= position && offset < position + chunk.length) {
        chunk[offset - position] = (chunk[offset - position] ?? 0) ^ 0x01;
      }
      position += Buffer.isBuffer(chunk) ? chunk.length : chunk.hole;
      inner.write(chunk, callback);
    },
    final(callback) {
      inner.end(callback);
    },
    destroy(err, callback) {
      inner.destroy(); // the error is this wrapper's to report
      callback(err);
    },
  });
}
