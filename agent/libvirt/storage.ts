// Storage pools and volumes (libvirt's virStoragePool* and virStorageVol* calls), reached as
// `client.storage`: what cold migration of local disks needs — find or define a pool, create a
// volume, read its sizes, and copy its bytes with virStorageVolDownload / virStorageVolUpload
// over a libvirt stream (rpc/stream.ts). Handles are converted at this edge as domain.ts does.
//
// Sizes are numbers of bytes (exact up to 8 PiB). Calls that may take as long as the disk is
// big (build, start, volume create and delete) have no deadline unless the caller passes one.

import { formatUuid, parseUuid } from './domain.js';
import { XdrEncodeError } from './errors.js';
import {
  VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM,
  VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM,
  virStoragePoolState,
  virStorageVolType,
} from './generated/constants.gen.js';
import {
  procedures,
  type ProcedureDef,
  type RemoteNonnullStoragePool,
  type RemoteNonnullStorageVol,
} from './generated/remote_protocol.gen.js';
import type { CallOptions, Connection } from './rpc/connection.js';
import { openStream, type StreamOptions } from './rpc/stream.js';
import { IncomingStream } from './rpc/stream-incoming.js';
import { OutgoingStream } from './rpc/stream-outgoing.js';

export interface StoragePool {
  readonly name: string;
  /** Canonical lower-case 8-4-4-4-12 form. */
  readonly uuid: string;
}

/** A volume as lookups return it: its pool's name, its name, and its key (usually its path). */
export interface StorageVol {
  readonly pool: string;
  readonly name: string;
  readonly key: string;
}

export interface StoragePoolInfo {
  /** virStoragePoolState and its C name (VIR_STORAGE_POOL_RUNNING…). */
  state: number;
  stateName: string;
  capacity: number;
  allocation: number;
  available: number;
}

export interface StorageVolInfo {
  /** virStorageVolType and its C name (VIR_STORAGE_VOL_FILE…). */
  type: number;
  typeName: string;
  capacity: number;
  /** Bytes the volume takes on its storage; with VIR_STORAGE_VOL_GET_PHYSICAL, the file's size. */
  allocation: number;
}

/** Which bytes of the volume a transfer covers: from `offset`, `length` bytes (0: to the end). */
export interface VolRange {
  offset?: number;
  length?: number;
}

/** The opening call's deadline and signal, and the Node stream's buffering and abort signal. */
export type VolTransferOptions = StreamOptions & { timeoutMs?: number };

type Call = <A, R>(def: ProcedureDef<A, R>, args: A, opts?: CallOptions, long?: boolean) => Promise<R>;

const names = (t: Readonly<Record<string, number>>) => new Map(Object.entries(t).map(([k, v]) => [v, k]));
const poolStateNames = names(virStoragePoolState);
const volTypeNames = names(virStorageVolType);

function poolFromWire(p: RemoteNonnullStoragePool): StoragePool {
  return { name: p.name, uuid: formatUuid(p.uuid) };
}
function poolToWire(p: StoragePool): RemoteNonnullStoragePool {
  if (!p || typeof p.name !== 'string') throw new XdrEncodeError('expected a StoragePool ({name, uuid}) from a lookup');
  return { name: p.name, uuid: parseUuid(p.uuid) };
}
function volFromWire(v: RemoteNonnullStorageVol): StorageVol {
  return { pool: v.pool, name: v.name, key: v.key };
}
function volToWire(v: StorageVol): RemoteNonnullStorageVol {
  if (!v || typeof v.name !== 'string') throw new XdrEncodeError('expected a StorageVol ({pool, name, key}) from a lookup');
  return { pool: v.pool, name: v.name, key: v.key };
}
function rangeToWire(r: VolRange): { offset: bigint; length: bigint } {
  return { offset: BigInt(r.offset ?? 0), length: BigInt(r.length ?? 0) };
}

export class StorageApi {
  constructor(
    private readonly conn: Connection,
    private readonly call: Call,
    /** The opening call's deadline when the caller gives none (the transfer itself has none). */
    private readonly callTimeoutMs: number,
  ) {}

  private openingCallOptions(o: VolTransferOptions): CallOptions {
    return { timeoutMs: o.timeoutMs ?? this.callTimeoutMs, ...(o.signal ? { signal: o.signal } : {}) };
  }

  // ---- Pools ----
  /** flags: virConnectListAllStoragePoolsFlags (0 = all). */
  async listAllPools(flags = 0, opts?: CallOptions): Promise<StoragePool[]> {
    return (await this.call(procedures.CONNECT_LIST_ALL_STORAGE_POOLS, { need_results: 1, flags }, opts)).pools.map(poolFromWire);
  }
  /** Rejects with LibvirtError VIR_ERR_NO_STORAGE_POOL for an unknown name. */
  async poolLookupByName(name: string, opts?: CallOptions): Promise<StoragePool> {
    return poolFromWire((await this.call(procedures.STORAGE_POOL_LOOKUP_BY_NAME, { name }, opts)).pool);
  }
  /** The pool whose target is `path` (a directory pool's directory). */
  async poolLookupByTargetPath(path: string, opts?: CallOptions): Promise<StoragePool> {
    return poolFromWire((await this.call(procedures.STORAGE_POOL_LOOKUP_BY_TARGET_PATH, { path }, opts)).pool);
  }
  /** Defines a persistent pool (virStoragePoolDefineXML); flags: virStoragePoolDefineFlags. */
  async poolDefineXML(xml: string, flags = 0, opts?: CallOptions): Promise<StoragePool> {
    return poolFromWire((await this.call(procedures.STORAGE_POOL_DEFINE_XML, { xml, flags }, opts)).pool);
  }
  /** Builds the pool's storage (a directory pool: creates its directory); flags: virStoragePoolBuildFlags. */
  async poolBuild(pool: StoragePool, flags = 0, opts?: CallOptions): Promise<void> {
    await this.call(procedures.STORAGE_POOL_BUILD, { pool: poolToWire(pool), flags }, opts, true);
  }
  /** Starts a defined pool (virStoragePoolCreate); flags: virStoragePoolCreateFlags (e.g. VIR_STORAGE_POOL_CREATE_WITH_BUILD). */
  async poolCreate(pool: StoragePool, flags = 0, opts?: CallOptions): Promise<void> {
    await this.call(procedures.STORAGE_POOL_CREATE, { pool: poolToWire(pool), flags }, opts, true);
  }
  /** Rescans the pool's volumes (files put there behind libvirt's back become volumes). */
  async poolRefresh(pool: StoragePool, opts?: CallOptions): Promise<void> {
    await this.call(procedures.STORAGE_POOL_REFRESH, { pool: poolToWire(pool), flags: 0 }, opts, true);
  }
  async poolGetInfo(pool: StoragePool, opts?: CallOptions): Promise<StoragePoolInfo> {
    const r = await this.call(procedures.STORAGE_POOL_GET_INFO, { pool: poolToWire(pool) }, opts);
    return {
      state: r.state,
      stateName: poolStateNames.get(r.state) ?? `STATE_${r.state}`,
      capacity: Number(r.capacity),
      allocation: Number(r.allocation),
      available: Number(r.available),
    };
  }
  /** Stops the pool (its volumes stay on disk). */
  async poolDestroy(pool: StoragePool, opts?: CallOptions): Promise<void> {
    await this.call(procedures.STORAGE_POOL_DESTROY, { pool: poolToWire(pool) }, opts);
  }
  async poolUndefine(pool: StoragePool, opts?: CallOptions): Promise<void> {
    await this.call(procedures.STORAGE_POOL_UNDEFINE, { pool: poolToWire(pool) }, opts);
  }

  // ---- Volumes ----
  /** Rejects with LibvirtError VIR_ERR_NO_STORAGE_VOL for an unknown name. */
  async volLookupByName(pool: StoragePool, name: string, opts?: CallOptions): Promise<StorageVol> {
    return volFromWire((await this.call(procedures.STORAGE_VOL_LOOKUP_BY_NAME, { pool: poolToWire(pool), name }, opts)).vol);
  }
  /** The volume at `path`, in whichever running pool holds it. */
  async volLookupByPath(path: string, opts?: CallOptions): Promise<StorageVol> {
    return volFromWire((await this.call(procedures.STORAGE_VOL_LOOKUP_BY_PATH, { path }, opts)).vol);
  }
  /** Creates a volume from its XML (virStorageVolCreateXML); flags: virStorageVolCreateFlags. */
  async volCreateXML(pool: StoragePool, xml: string, flags = 0, opts?: CallOptions): Promise<StorageVol> {
    return volFromWire((await this.call(procedures.STORAGE_VOL_CREATE_XML, { pool: poolToWire(pool), xml, flags }, opts, true)).vol);
  }
  /** Type, capacity and allocation; flags (VIR_STORAGE_VOL_GET_PHYSICAL) use virStorageVolGetInfoFlags. */
  async volGetInfo(vol: StorageVol, flags = 0, opts?: CallOptions): Promise<StorageVolInfo> {
    const r =
      flags === 0
        ? await this.call(procedures.STORAGE_VOL_GET_INFO, { vol: volToWire(vol) }, opts)
        : await this.call(procedures.STORAGE_VOL_GET_INFO_FLAGS, { vol: volToWire(vol), flags }, opts);
    return {
      type: r.type,
      typeName: volTypeNames.get(r.type) ?? `TYPE_${r.type}`,
      capacity: Number(r.capacity),
      allocation: Number(r.allocation),
    };
  }
  async volGetXMLDesc(vol: StorageVol, flags = 0, opts?: CallOptions): Promise<string> {
    return (await this.call(procedures.STORAGE_VOL_GET_XML_DESC, { vol: volToWire(vol), flags }, opts)).xml;
  }
  async volGetPath(vol: StorageVol, opts?: CallOptions): Promise<string> {
    return (await this.call(procedures.STORAGE_VOL_GET_PATH, { vol: volToWire(vol) }, opts)).name;
  }
  /** Deletes the volume and its storage; flags: virStorageVolDeleteFlags. */
  async volDelete(vol: StorageVol, flags = 0, opts?: CallOptions): Promise<void> {
    await this.call(procedures.STORAGE_VOL_DELETE, { vol: volToWire(vol), flags }, opts, true);
  }

  /**
   * The volume's bytes as a Readable of Buffers — and, with VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM,
   * of `{ hole }` objects for its holes (virStorageVolDownload). Resolves once libvirtd accepted
   * the call; the stream ends after libvirtd confirmed the transfer, or errors (LibvirtError,
   * InterruptedError). Destroying it aborts the transfer.
   */
  async volDownload(vol: StorageVol, range: VolRange = {}, flags = 0, opts: VolTransferOptions = {}): Promise<IncomingStream> {
    const sparse = (flags & VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM) !== 0;
    const args = { vol: volToWire(vol), ...rangeToWire(range), flags };
    return openStream(
      this.conn,
      procedures.STORAGE_VOL_DOWNLOAD,
      args,
      sparse,
      (ch) => new IncomingStream(ch, opts),
      this.openingCallOptions(opts),
    );
  }

  /**
   * A Writable that stores what it is given in the volume (virStorageVolUpload): Buffers and, with
   * VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM, `{ hole }` objects. 'finish' fires once libvirtd has
   * confirmed the data is written; destroying it first aborts the upload.
   */
  async volUpload(vol: StorageVol, range: VolRange = {}, flags = 0, opts: VolTransferOptions = {}): Promise<OutgoingStream> {
    const sparse = (flags & VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM) !== 0;
    const args = { vol: volToWire(vol), ...rangeToWire(range), flags };
    return openStream(
      this.conn,
      procedures.STORAGE_VOL_UPLOAD,
      args,
      sparse,
      (ch) => new OutgoingStream(ch, opts),
      this.openingCallOptions(opts),
    );
  }
}
