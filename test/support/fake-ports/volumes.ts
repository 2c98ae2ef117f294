// Cold migration's ports in memory: each host's volumes as a map of path to
// content, a destination that places outside its directory by mapping, and a
// data channel that copies from one map to the other (what the real adapters
// do through libvirt streams and agent/transfer is tested on the lab).
import { FerryError } from '../../../shared/errors.js';
import type {
  ColdVolume,
  DestinationVolumes,
  ReceiveVolumesArgs,
  ReceivingVolumes,
  SendVolumesArgs,
  SourceVolumes,
  VolumeChannel,
  VolumePlacement,
} from '../../../agent/migration/ports.js';

/** One host's volumes: path → content. */
export type VolumeStore = Map<string, Buffer>;

export class FakeSourceVolumes implements SourceVolumes {
  removed: string[] = [];
  constructor(readonly store: VolumeStore) {}
  async describe(files: readonly { id: string; path: string }[]): Promise<ColdVolume[]> {
    return files.map(({ id, path }) => {
      const content = this.store.get(path);
      if (!content) throw new FerryError('FAILED_PRECONDITION', `${path} is not in any storage pool`, { reason: 'STORAGE_FAILED' });
      const size = content.length;
      return { id, path, format: path.endsWith('.qcow2') ? 'qcow2' : 'raw', capacityBytes: size, streamBytes: size, allocationBytes: size };
    });
  }
  async remove(paths: readonly string[]): Promise<void> {
    for (const path of paths) if (this.store.delete(path)) this.removed.push(path);
  }
}

/** Places volumes at their own path inside `directory`, else under `directory/<vmId>/`. */
export class FakeDestinationVolumes implements DestinationVolumes {
  created: string[] = [];
  removed: string[] = [];
  constructor(
    readonly store: VolumeStore,
    readonly directory = '/var/lib/libvirt/images',
  ) {}
  async place(vmId: string, volumes: readonly ColdVolume[]): Promise<VolumePlacement[]> {
    return volumes.map((v) => {
      const inside = v.path.startsWith(`${this.directory}/`);
      const path = inside ? v.path : `${this.directory}/${vmId}/${v.path.split('/').pop()}`;
      if (this.store.has(path)) throw new FerryError('FAILED_PRECONDITION', `${path} exists`, { reason: 'STORAGE_FAILED' });
      return { id: v.id, sourcePath: v.path, path };
    });
  }
  async create(_volumes: readonly ColdVolume[], placements: readonly VolumePlacement[]): Promise<void> {
    for (const p of placements) {
      this.store.set(p.path, Buffer.alloc(0));
      this.created.push(p.path);
    }
  }
  async remove(paths: readonly string[]): Promise<void> {
    for (const path of paths) if (this.store.delete(path)) this.removed.push(path);
  }
}

/**
 * Both ends of the data channel: receive() waits for the send() that brings
 * its token, which copies each volume from the source's store into the
 * destination's. `corrupt`: the destination's check fails on that volume id;
 * `stall`: the copy waits for the source's signal (a cancel).
 */
export class FakeVolumeChannel implements VolumeChannel {
  corrupt = '';
  stall = false;
  sends: SendVolumesArgs[] = [];
  private readonly waiting = new Map<string, { args: ReceiveVolumesArgs; resolve: () => void; reject: (e: unknown) => void }>();
  private tokens = 0;

  constructor(
    readonly source: VolumeStore,
    readonly destination: VolumeStore,
  ) {}

  async receive(args: ReceiveVolumesArgs): Promise<ReceivingVolumes> {
    const token = Buffer.from(`token-${++this.tokens}`);
    const done = new Promise<void>((resolve, reject) => {
      this.waiting.set(token.toString(), { args, resolve, reject });
      args.signal.addEventListener('abort', () => reject(new FerryError('CANCELLED', 'the destination cancelled the transfer')), {
        once: true,
      });
    });
    done.catch(() => undefined);
    return { token, done };
  }

  async send(args: SendVolumesArgs): Promise<void> {
    this.sends.push(args);
    const end = this.waiting.get(args.token.toString());
    if (!end) throw new FerryError('PERMISSION_DENIED', 'the destination refused the transfer connection: unknown token');
    this.waiting.delete(args.token.toString());
    const fail = (err: FerryError) => {
      end.reject(err);
      throw err;
    };
    let dataBytes = 0;
    for (const [verified, volume] of args.volumes.entries()) {
      const target = end.args.volumes.find((v) => v.id === volume.id);
      const content = this.source.get(volume.path);
      if (!target || !content) fail(new FerryError('FAILED_PRECONDITION', `volume ${volume.id} cannot be sent`));
      args.onProgress?.({ current: volume.id, verified, dataBytes, holeBytes: 0 });
      if (this.stall) {
        await new Promise<void>((resolve) => args.signal.addEventListener('abort', () => resolve(), { once: true }));
        fail(new FerryError('CANCELLED', 'the source cancelled the transfer'));
      }
      if (this.corrupt === volume.id) fail(new FerryError('INTERNAL', `volume ${volume.id}: checksum differs`, { step: 'transfer' }));
      this.destination.set(target!.path, Buffer.from(content!));
      dataBytes += content!.length;
    }
    args.onProgress?.({ current: '', verified: args.volumes.length, dataBytes, holeBytes: 0 });
    end.resolve();
  }
}
