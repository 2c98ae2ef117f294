/**
 * The ports of cold migration (mode COLD): a shut-off VM's local volumes as
 * libvirt's storage API reaches them on each host, and the data channel
 * between the two agents that carries them (agent/transfer over libvirt's
 * virStorageVolDownload and virStorageVolUpload streams). The core decides
 * what moves, where, and in which order; the adapters know pools, streams
 * and frames.
 */

/** Why an agent without these ports refuses mode COLD, on either side (ferryd builds them only with TLS). */
export const NO_COLD_MIGRATION =
  'this agent takes no cold migration (mode COLD): its data channel authenticates both agents by their host certificates, and this agent runs without TLS (tls.insecure)';

/** The id of a hibernation's saved-state file among a cold migration's volumes (never a disk's target name). */
export const SAVED_STATE_VOLUME = 'saved-state';

/** A volume a cold migration moves: one of the VM's disks, or a hibernation's saved-state file. */
export interface ColdVolume {
  /** The disk's target device ("vda"), or "saved-state": unique within one migration. */
  id: string;
  /** The volume's path on the source. */
  path: string;
  /** Image format, e.g. "qcow2", "raw" (a saved state is "raw"). */
  format: string;
  /** Virtual size in bytes: what the destination creates. */
  capacityBytes: number;
  /** Length of the volume's content as its download streams it (for a file: its length), holes included. */
  streamBytes: number;
  /** Bytes the volume holds on disk (its allocation): about what travels, since holes do not. */
  allocationBytes: number;
}

/** Where the destination put one volume. */
export interface VolumePlacement {
  /** ColdVolume.id */
  id: string;
  sourcePath: string;
  /** The path on the destination: the same path when it lies in storage.image_directories, else mapped into the first of them. */
  path: string;
}

/** The source's side: its volumes through libvirt's storage pools. */
export interface SourceVolumes {
  /**
   * The volumes behind these paths, each looked up through a storage pool
   * (a directory no pool covers gets one Ferry defines). FAILED_PRECONDITION
   * naming the path when one cannot be reached (a block device outside any
   * pool, a network disk).
   */
  describe(files: readonly { id: string; path: string }[]): Promise<ColdVolume[]>;
  /** Deletes the source's volumes once the destination has verified its copies (missing ones are skipped). */
  remove(paths: readonly string[]): Promise<void>;
}

/** The destination's side: where arriving volumes go, created through libvirt's storage pools. */
export interface DestinationVolumes {
  /**
   * Chooses a path for each volume and checks there is room for what it
   * holds, creating nothing: FAILED_PRECONDITION (reason STORAGE_FAILED)
   * naming the volume when a path is taken or outside the allowed
   * directories, RESOURCE_EXHAUSTED when the filesystem lacks the space.
   */
  place(vmId: string, volumes: readonly ColdVolume[]): Promise<VolumePlacement[]>;
  /** Creates each placed volume (empty, its format and capacity) in a storage pool, all or nothing. */
  create(volumes: readonly ColdVolume[], placements: readonly VolumePlacement[]): Promise<void>;
  /** Deletes volumes this host created for a cold migration that failed (missing ones are skipped). */
  remove(paths: readonly string[]): Promise<void>;
}

/** How far a transfer has come: bytes of the volume being sent, and the volumes done. */
export interface VolumeTransferProgress {
  /** ColdVolume.id of the volume being sent ('' once all are). */
  current: string;
  /** Volumes the destination has verified. */
  verified: number;
  /** Data bytes sent so far, all volumes (holes excluded). */
  dataBytes: number;
  /** Hole bytes skipped so far, all volumes. */
  holeBytes: number;
}

/** Destination: one transfer to wait for, behind the pinhole already opened for it. */
export interface ReceiveVolumesArgs {
  address: string;
  port: number;
  /** The source's migration address (the pinhole's) and its host name (its certificate must carry both). */
  source: { address: string; host: string };
  volumes: readonly { id: string; path: string; format: string; streamBytes: number }[];
  /** How long the source has to connect. */
  arrivalTimeoutMs: number;
  signal: AbortSignal;
  /** A connection refused (wrong certificate or token): logged by the caller, the wait goes on. */
  onRefused?: (reason: string) => void;
}

export interface ReceivingVolumes {
  /** The secret the source must present (PrepareIncoming's answer carries it). */
  token: Buffer;
  /**
   * Resolves once every volume arrived, matched the source's checksum and
   * passed the format's own check (qemu-img check for qcow2); rejects with
   * the first failure, the partial volume's upload aborted.
   */
  done: Promise<void>;
}

/** Source: one transfer to make, with the destination's answer. */
export interface SendVolumesArgs {
  address: string;
  port: number;
  /** This host's migration address: the connection leaves from it (the pinhole admits only it). */
  localAddress: string;
  token: Buffer;
  volumes: readonly { id: string; path: string; streamBytes: number }[];
  /**
   * The job's max_bandwidth in MiB/s now, on the volumes' data (holes cost nothing); 0: unlimited.
   * Read before each piece of data is sent, so that ChangeMigrationParams holds at once.
   */
  maxBandwidthMibps: () => number;
  signal: AbortSignal;
  onProgress?: (progress: VolumeTransferProgress) => void;
}

/** The data channel between the two agents (agent/transfer and libvirt's volume streams). */
export interface VolumeChannel {
  receive(args: ReceiveVolumesArgs): Promise<ReceivingVolumes>;
  /** Resolves once the destination has verified every volume. */
  send(args: SendVolumesArgs): Promise<void>;
}
