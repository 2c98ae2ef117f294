/**
 * The VolumeChannel port: cold migration's volumes from the source's
 * libvirt to the destination's, over Ferry's own TLS data channel
 * (agent/transfer). The source reads each volume with virStorageVolDownload,
 * the destination writes it with virStorageVolUpload, both sparse, so holes
 * travel as holes; each stream has a libvirt connection of its own
 * (dedicated-stream.ts). On the destination a volume counts as arrived once
 * its checksum matched, libvirtd confirmed the upload, the file has the
 * source's length and, for qcow2, `qemu-img check` passed — all before its
 * ACK (checked-upload.ts), so a failed check reaches the source as an ABORT.
 */
import { realpath, truncate } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { constants as c, type ReconnectingClient } from '../libvirt/index.js';
import type { ReceiveVolumesArgs, ReceivingVolumes, SendVolumesArgs, VolumeChannel, VolumeTransferProgress } from '../migration/index.js';
import { createTransferToken, receiveVolumes, sendVolumes, type SendProgress, type TransferTls } from '../transfer/index.js';
import { checkedUpload } from './checked-upload.js';
import { streamOnDedicatedConnection } from './dedicated-stream.js';
import { qemuImgCheck, type ImageCheck } from './qemu-img-check.js';

export interface LibvirtVolumeChannelOptions {
  /** This host's PEM files as they are now (a reload may replace them): the certificate store's `current`. */
  tls: () => TransferTls;
  /** The check of an arrived image of a format that has one (default: qemu-img check, for qcow2). */
  checkImage?: ImageCheck;
  /** Test hook: corrupts one byte of each arriving volume (checked-upload.ts). */
  corruptArrivals?: boolean;
}

/**
 * Packets (up to 256 KiB each) a volume's libvirt stream buffers before back-pressure: 4, not the
 * client's default 16. Each packet is a Buffer of its own; held 16 deep behind the TLS socket they
 * lived long enough for V8 to promote them, and the agent then spent more CPU in full garbage
 * collections than in TLS (measured on the lab: a 1.2 GiB move went from 4 to 10 s of the
 * source agent's CPU). One MiB ahead still keeps the link busy: libvirtd refills faster than it drains.
 */
const STREAM_PACKETS_BUFFERED = 4;

const MIB = 1024 * 1024;

/** Formats with a check of their own; raw has none beyond the checksum. */
const CHECKED_FORMATS = new Set(['qcow2']);

export class LibvirtVolumeChannel implements VolumeChannel {
  private readonly tls: () => TransferTls;
  private readonly checkImage: ImageCheck;
  private readonly corruptArrivals: boolean;

  constructor(
    private readonly libvirt: ReconnectingClient,
    options: LibvirtVolumeChannelOptions,
  ) {
    this.tls = options.tls;
    this.checkImage = options.checkImage ?? qemuImgCheck;
    this.corruptArrivals = options.corruptArrivals === true;
  }

  async receive(args: ReceiveVolumesArgs): Promise<ReceivingVolumes> {
    const token = createTransferToken();
    const byId = new Map(args.volumes.map((v) => [v.id, v]));
    const incoming = await receiveVolumes({
      address: args.address,
      port: args.port,
      source: args.source,
      token,
      tls: this.tls(),
      volumes: args.volumes.map((v) => ({ id: v.id, size: v.streamBytes })),
      openSink: (volume) => {
        const placed = byId.get(volume.id);
        if (!placed) throw new Error(`volume ${volume.id} was not announced`);
        return this.openUpload(placed);
      },
      arrivalTimeoutMs: args.arrivalTimeoutMs,
      signal: args.signal,
      ...(args.onRefused ? { onRefused: (refusal) => args.onRefused?.(`${refusal.peer}: ${refusal.reason}`) } : {}),
    });
    return { token, done: incoming.done.then(() => undefined) };
  }

  async send(args: SendVolumesArgs): Promise<void> {
    const onProgress = args.onProgress;
    await sendVolumes({
      address: args.address,
      port: args.port,
      localAddress: args.localAddress,
      token: args.token,
      tls: this.tls(),
      volumes: args.volumes.map((v) => ({ id: v.id, size: v.streamBytes, open: () => this.openDownload(v.path) })),
      maxBytesPerSecond: () => args.maxBandwidthMibps() * MIB,
      signal: args.signal,
      ...(onProgress ? { onProgress: (progress: SendProgress) => onProgress(toVolumeProgress(progress)) } : {}),
    });
  }

  private async openUpload(volume: ReceiveVolumesArgs['volumes'][number]): Promise<Writable> {
    // The upload writes over the created file in place and skips holes by seeking
    // (virfdstream.c in libvirt's src/util/), so what the file held where the source
    // has holes would survive: empty, every hole reads as zeros and the length is the source's.
    await truncate(volume.path, 0);
    const upload = await streamOnDedicatedConnection(this.libvirt, async (client) =>
      client.storage.volUpload(await client.storage.volLookupByPath(volume.path), {}, c.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM, {
        highWaterMark: STREAM_PACKETS_BUFFERED,
      }),
    );
    const check = CHECKED_FORMATS.has(volume.format) ? () => this.checkImage(volume.path, volume.format) : undefined;
    return checkedUpload(upload, {
      id: volume.id,
      path: volume.path,
      streamBytes: volume.streamBytes,
      ...(check ? { check } : {}),
      ...(this.corruptArrivals ? { corrupt: true } : {}),
    });
  }

  private async openDownload(file: string) {
    const real = await realpath(file);
    return streamOnDedicatedConnection(this.libvirt, async (client) =>
      client.storage.volDownload(await client.storage.volLookupByPath(real), {}, c.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM, {
        highWaterMark: STREAM_PACKETS_BUFFERED,
      }),
    );
  }
}

export function toVolumeProgress(progress: SendProgress): VolumeTransferProgress {
  return { current: progress.current, verified: progress.verified, dataBytes: progress.dataBytes, holeBytes: progress.holeBytes };
}
