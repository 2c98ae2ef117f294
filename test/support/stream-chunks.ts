// What a libvirt stream carried, for the stream tests (unit and integration): its Buffer chunks
// and holes, counted apart, and the content they stand for (holes as zeros, for comparing).

import type { Readable } from 'node:stream';
import { isStreamHole } from '../../agent/libvirt/index.js';

export interface Received {
  /** Buffer chunks and holes, in order. */
  chunks: Array<Buffer | { hole: number }>;
  dataBytes: number;
  holeBytes: number;
}

/** Reads a stream to its end. */
export async function receiveAll(stream: Readable): Promise<Received> {
  const got: Received = { chunks: [], dataBytes: 0, holeBytes: 0 };
  for await (const chunk of stream as AsyncIterable<unknown>) {
    if (isStreamHole(chunk)) {
      got.chunks.push({ hole: chunk.hole });
      got.holeBytes += chunk.hole;
    } else {
      const b = chunk as Buffer;
      got.chunks.push(b);
      got.dataBytes += b.length;
    }
  }
  return got;
}

/** The bytes a sequence of chunks stands for, holes written out as zeros. */
export function contentOf(chunks: ReadonlyArray<Buffer | { hole: number }>): Buffer {
  return Buffer.concat(chunks.map((c) => (Buffer.isBuffer(c) ? c : Buffer.alloc(c.hole))));
}
