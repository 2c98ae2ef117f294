/**
 * The destination's sink for one volume: the libvirt upload, ended only
 * once the arrived file is checked. agent/transfer's receiver finishes a
 * sink (SinkWriter.finish) after the checksum matched and before it ACKs
 * the volume as verified; making the check the sink's final step means a
 * volume that fails it is never acknowledged: the receiver sends ABORT
 * with the check's words, so the source hears why, and `done` rejects.
 */
import { stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

export interface CheckedUploadOptions {
  /** ColdVolume.id, for messages. */
  id: string;
  path: string;
  /** The source's stream length: the file must be exactly this long once written. */
  streamBytes: number;
  /** Runs on the written file once libvirtd confirmed the upload (qemu-img check for qcow2). */
  check?: () => Promise<void>;
  /**
   * A test hook (FERRY_TEST_CORRUPT_TRANSFER): flips the first byte of the
   * first data chunk in place as it is written, as a bad disk or bus would,
   * so the end-to-end tests see the receiver's checksum catch it.
   */
  corrupt?: boolean;
}

/** Wraps `upload` (a Writable of Buffers and { hole } objects) so that its end waits for libvirtd, then checks the file. */
export function checkedUpload(upload: Writable, options: CheckedUploadOptions): Writable {
  let corrupt = options.corrupt === true;
  const sink: Writable = new Writable({
    objectMode: true,
    write(chunk: unknown, _encoding, callback) {
      if (corrupt && Buffer.isBuffer(chunk) && chunk.length > 0) {
        chunk[0] = (chunk[0] ?? 0) ^ 0xff;
        corrupt = false;
      }
      upload.write(chunk, (err) => callback(err ?? null));
    },
    final(callback) {
      upload.end();
      finished(upload)
        .then(() => verifyFile(options))
        .then(
          () => callback(),
          (err: Error) => callback(err),
        );
    },
    destroy(err, callback) {
      // Before libvirtd confirmed the upload this aborts it, so the volume is not left looking complete.
      if (!upload.writableFinished) upload.destroy(err ?? undefined);
      callback(err);
    },
  });
  upload.on('error', (err) => sink.destroy(err));
  return sink;
}

async function verifyFile(options: CheckedUploadOptions): Promise<void> {
  const written = await stat(options.path);
  if (written.size !== options.streamBytes) {
    throw new Error(
      `volume ${options.id}: ${options.path} holds ${written.size} bytes after the upload, but the source sent ${options.streamBytes}`,
    );
  }
  await options.check?.();
}
