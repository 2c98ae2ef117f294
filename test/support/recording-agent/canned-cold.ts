// The stand-in ferryd's cold migrations (mode COLD): the volumes it moves
// (a disk, and the saved state when the request names a hibernation), each
// progress step sending the next volume, and the end with the destination's
// paths and, for a hibernation, where Restore finds it there.
import type { ColdCopyProgress } from '../../../shared/generated/ferry/v1/ColdCopyProgress.js';

export const COLD_DISK = {
  id: 'vda',
  format: 'qcow2',
  sourcePath: '/var/lib/libvirt/images/web1.qcow2',
  capacityBytes: 10 * 2 ** 30,
  allocationBytes: 384 * 2 ** 20,
};

export const COLD_SAVED_STATE = {
  id: 'saved-state',
  format: 'raw',
  sourcePath: '/var/lib/ferry/web1.save',
  capacityBytes: 128 * 2 ** 20,
  allocationBytes: 128 * 2 ** 20,
};

/** Where the stand-in destination puts each volume: the saved state in its image directory, the disk at the same path. */
export const COLD_DESTINATION: Readonly<Record<string, string>> = {
  vda: COLD_DISK.sourcePath,
  'saved-state': '/srv/ferry/images/web1.save',
};

export const COLD_HOLE_BYTES = 9 * 2 ** 30;

/** The first message: volumes known, nothing placed yet. */
export function coldStart(request: { dstparams: string; keepSource: boolean }): ColdCopyProgress {
  const volumes = request.dstparams ? [COLD_DISK, COLD_SAVED_STATE] : [COLD_DISK];
  return {
    step: 'COLD_STEP_TRANSFER',
    volumes: volumes.map((v) => ({ ...v, destinationPath: '' })),
    current: '',
    verified: 0,
    holeBytes: 0,
    keepSource: request.keepSource,
    restorePath: '',
    restoreDstparams: '',
  };
}

/** Step N sends volume N (placed by then); once every volume is verified the definition moves. */
export function coldAt(c: ColdCopyProgress, step: number): ColdCopyProgress {
  const volumes = (c.volumes ?? []).map((v) => ({ ...v, destinationPath: COLD_DESTINATION[v.id ?? ''] ?? '' }));
  const verified = Math.min(step - 1, volumes.length);
  return {
    ...c,
    volumes,
    step: verified < volumes.length ? 'COLD_STEP_TRANSFER' : 'COLD_STEP_DEFINE',
    current: volumes[verified]?.id ?? '',
    verified,
    holeBytes: Math.round((COLD_HOLE_BYTES * verified) / Math.max(volumes.length, 1)),
  };
}

/** COMPLETED: every volume verified, the source removed unless kept, and the hibernation's place on the destination. */
export function coldDone(c: ColdCopyProgress, dstparams: string): ColdCopyProgress {
  const placed = coldAt(c, (c.volumes?.length ?? 0) + 1);
  return {
    ...placed,
    step: 'COLD_STEP_DONE',
    current: '',
    holeBytes: COLD_HOLE_BYTES,
    restorePath: dstparams ? (COLD_DESTINATION['saved-state'] ?? '') : '',
    restoreDstparams: dstparams,
  };
}
