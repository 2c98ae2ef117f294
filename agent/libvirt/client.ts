// The friendly API over one libvirt connection: connect + handshake, domain operations,
// migration control, save/restore and events; storage pools and volumes are `storage`. Each method is a thin conversion between
// caller-friendly values (UUID strings, records of typed params, numbers) and the generated
// wire structs; all protocol work lives in rpc/ and generated/.
//
// Timeouts: ordinary calls get `callTimeoutMs` (default 60 s; note the daemon may legitimately
// take ~30 s when a domain's job lock is busy). Calls that last as long as the operation itself
// (migrate, save, restore, create) have no deadline unless the caller passes one; they still
// reject at once if the connection dies.

import { domainFromWire, domainToWire, parseUuid, type Domain } from './domain.js';
import { ConnectionError } from './errors.js';
import { EventRouter, type EventMap, type SupportedEventId } from './events.js';
import { typedParamSchema, virDomainJobType, virDomainState } from './generated/constants.gen.js';
import { procedures, type ProcedureDef } from './generated/remote_protocol.gen.js';
import { handshake } from './handshake.js';
import { StorageApi } from './storage.js';
import { Connection, type CallOptions } from './rpc/connection.js';
import type { Dialer } from './rpc/dialers/dialer.js';
import { DEFAULT_KEEPALIVE, handleKeepalivePacket, type KeepaliveOptions } from './rpc/keepalive.js';
import {
  buildTypedParams,
  fromWire,
  toWire,
  typedParamsToRecord,
  type TypedParam,
  type TypedParamInput,
  type TypedValue,
} from './typed-params.js';

export interface ConnectOptions {
  dialer: Dialer;
  /** Hypervisor URI opened on the daemon. */
  uri?: string;
  readOnly?: boolean;
  /** Default deadline for ordinary calls (ms). */
  callTimeoutMs?: number;
  /** Keepalive settings, or false to disable. */
  keepalive?: KeepaliveOptions | false;
  /** Called when an event handler throws (default: process.emitWarning). */
  onHandlerError?: (err: unknown) => void;
  signal?: AbortSignal;
}

export interface DomainState {
  state: number;
  stateName: string;
  reason: number;
}
export interface JobStats {
  /** virDomainJobType: NONE, BOUNDED, UNBOUNDED, COMPLETED, FAILED, CANCELLED. */
  type: number;
  typeName: string;
  params: TypedParam[];
  stats: Record<string, TypedValue>;
}

/** Which guest a host query is about (domain capabilities, CPU comparison); null or absent: the host's default. */
export interface GuestQuery {
  emulator?: string | null;
  arch?: string | null;
  machine?: string | null;
  virttype?: string | null;
}

function guestArgs(query: GuestQuery) {
  return { emulator: query.emulator ?? null, arch: query.arch ?? null, machine: query.machine ?? null, virttype: query.virttype ?? null };
}

const DEFAULT_CALL_TIMEOUT_MS = 60_000;
const names = (t: Readonly<Record<string, number>>) => new Map(Object.entries(t).map(([k, v]) => [v, k]));
const stateNames = names(virDomainState);
const jobTypeNames = names(virDomainJobType);

export class LibvirtClient {
  readonly events: { subscribe: EventRouter['subscribe'] };
  /** Storage pools and volumes, and volume download and upload (storage.ts). */
  readonly storage: StorageApi;

  private constructor(
    private readonly conn: Connection,
    router: EventRouter,
    private readonly callTimeoutMs: number,
    readonly uri: string,
  ) {
    this.events = { subscribe: router.subscribe.bind(router) };
    this.storage = new StorageApi(conn, this.call.bind(this), callTimeoutMs);
  }

  static async connect(o: ConnectOptions): Promise<LibvirtClient> {
    const uri = o.uri ?? 'qemu:///system';
    const callTimeoutMs = o.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const socket = await o.dialer.dial(o.signal);
    let router: EventRouter | undefined;
    const conn: Connection = new Connection(socket, {
      address: o.dialer.address,
      onEvent: (proc, payload) => router?.handleMessage(proc, payload),
      onOtherProgram: (p) => {
        handleKeepalivePacket(conn, p);
      },
    });
    const report = o.onHandlerError ?? ((err: unknown) => process.emitWarning(`libvirt event handler threw: ${String(err)}`));
    router = new EventRouter(conn.call.bind(conn), report);
    try {
      await handshake(conn, { uri, readOnly: o.readOnly ?? false, keepalive: o.keepalive ?? DEFAULT_KEEPALIVE, timeoutMs: callTimeoutMs });
    } catch (err) {
      conn.destroy(err instanceof Error ? err : new Error(String(err)));
      if (err instanceof ConnectionError) throw err;
      throw new ConnectionError(o.dialer.address, `handshake failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return new LibvirtClient(conn, router, callTimeoutMs, uri);
  }

  get address(): string {
    return this.conn.address;
  }
  get isOpen(): boolean {
    return this.conn.isOpen;
  }
  /** Number of calls awaiting a reply. */
  get pendingCalls(): number {
    return this.conn.pendingCount;
  }
  /** Registers a callback for when the connection ends (reason = why). */
  onClose(fn: (reason: Error) => void): () => void {
    return this.conn.onClose(fn);
  }

  /** CONNECT_CLOSE (best effort, short deadline) then closes the socket. Pending calls reject. */
  async close(): Promise<void> {
    if (!this.conn.isOpen) return;
    try {
      await this.conn.call(procedures.CONNECT_CLOSE, undefined, { timeoutMs: Math.min(this.callTimeoutMs, 5_000) });
    } catch {
      // The daemon cleans up on disconnect anyway.
    }
    this.conn.close();
  }

  private call<A, R>(def: ProcedureDef<A, R>, args: A, opts?: CallOptions, long = false): Promise<R> {
    return this.conn.call(def, args, long ? { ...opts } : { timeoutMs: this.callTimeoutMs, ...opts });
  }

  // ---- Host ----
  async connectGetLibVersion(opts?: CallOptions): Promise<number> {
    return Number((await this.call(procedures.CONNECT_GET_LIB_VERSION, undefined, opts)).lib_ver);
  }
  async connectGetVersion(opts?: CallOptions): Promise<number> {
    return Number((await this.call(procedures.CONNECT_GET_VERSION, undefined, opts)).hv_ver);
  }
  async connectGetHostname(opts?: CallOptions): Promise<string> {
    return (await this.call(procedures.CONNECT_GET_HOSTNAME, undefined, opts)).hostname;
  }
  async connectGetCapabilities(opts?: CallOptions): Promise<string> {
    return (await this.call(procedures.CONNECT_GET_CAPABILITIES, undefined, opts)).capabilities;
  }
  async connectGetUri(opts?: CallOptions): Promise<string> {
    return (await this.call(procedures.CONNECT_GET_URI, undefined, opts)).uri;
  }
  async connectSupportsFeature(feature: number, opts?: CallOptions): Promise<boolean> {
    return (await this.call(procedures.CONNECT_SUPPORTS_FEATURE, { feature }, opts)).supported === 1;
  }
  /** Names of the host's libvirt networks; flags: virConnectListAllNetworksFlags (e.g. VIR_CONNECT_LIST_NETWORKS_ACTIVE). */
  async connectListAllNetworks(flags = 0, opts?: CallOptions): Promise<string[]> {
    const ret = await this.call(procedures.CONNECT_LIST_ALL_NETWORKS, { need_results: 1, flags }, opts);
    return ret.nets.map((n) => n.name);
  }
  /**
   * What the hypervisor offers one kind of guest (virConnectGetDomainCapabilities), as XML. A
   * parameter left out means "the default": the emulator for arch and virttype, the default machine.
   */
  async connectGetDomainCapabilities(query: GuestQuery, flags = 0, opts?: CallOptions): Promise<string> {
    const { emulator, ...guest } = guestArgs(query);
    const args = { emulatorbin: emulator, ...guest, flags };
    return (await this.call(procedures.CONNECT_GET_DOMAIN_CAPABILITIES, args, opts)).capabilities;
  }
  /**
   * Compares a guest CPU definition (a <cpu> element) with what the hypervisor can give such a
   * guest (virConnectCompareHypervisorCPU): VIR_CPU_COMPARE_INCOMPATIBLE, _IDENTICAL or _SUPERSET.
   * With VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE an incompatible CPU is an error (VIR_ERR_CPU_INCOMPATIBLE)
   * whose message names the missing features.
   */
  async connectCompareHypervisorCPU(query: GuestQuery, xmlCPU: string, flags = 0, opts?: CallOptions): Promise<number> {
    const args = { ...guestArgs(query), xmlCPU, flags };
    return (await this.call(procedures.CONNECT_COMPARE_HYPERVISOR_CPU, args, opts)).result;
  }
  /**
   * The host's memory figures in KiB by libvirt's names ("total", "free", "buffers", "cached"),
   * for one NUMA cell or, with VIR_NODE_MEMORY_STATS_ALL_CELLS (-1), the whole host.
   */
  async nodeGetMemoryStats(cellNum = -1, opts?: CallOptions): Promise<Record<string, bigint>> {
    // virNodeGetMemoryStats wants exactly as many slots as it fills (virHostMemGetStatsLinux refuses
    // any other count): nparams 0 asks for that count, as virsh nodememstats does.
    const { nparams } = await this.call(procedures.NODE_GET_MEMORY_STATS, { nparams: 0, cellNum, flags: 0 }, opts);
    const ret = await this.call(procedures.NODE_GET_MEMORY_STATS, { nparams, cellNum, flags: 0 }, opts);
    return Object.fromEntries(ret.params.map((p) => [p.field, p.value]));
  }
  /**
   * Free pages of each size (in KiB) in cellCount cells from startCell, cell by cell; startCell -1
   * with cellCount 1 gives the whole host's.
   */
  async nodeGetFreePages(pageSizesKiB: number[], startCell: number, cellCount: number, opts?: CallOptions): Promise<bigint[]> {
    const ret = await this.call(procedures.NODE_GET_FREE_PAGES, { pages: pageSizesKiB, startCell, cellCount, flags: 0 }, opts);
    return ret.counts;
  }
  /** flags: virConnectListAllDomainsFlags (0 = all). */
  async connectListAllDomains(flags = 0, opts?: CallOptions): Promise<Domain[]> {
    const ret = await this.call(procedures.CONNECT_LIST_ALL_DOMAINS, { need_results: 1, flags }, opts);
    return ret.domains.map(domainFromWire);
  }

  // ---- Domain lookup and lifecycle ----
  /** Rejects with LibvirtError (isNoDomain) for an unknown UUID, XdrEncodeError for a malformed one. */
  async domainLookupByUUID(uuid: string, opts?: CallOptions): Promise<Domain> {
    return domainFromWire((await this.call(procedures.DOMAIN_LOOKUP_BY_UUID, { uuid: parseUuid(uuid) }, opts)).dom);
  }
  async domainLookupByName(name: string, opts?: CallOptions): Promise<Domain> {
    return domainFromWire((await this.call(procedures.DOMAIN_LOOKUP_BY_NAME, { name }, opts)).dom);
  }
  /** flags: virDomainXMLFlags. */
  async domainGetXMLDesc(dom: Domain, flags = 0, opts?: CallOptions): Promise<string> {
    return (await this.call(procedures.DOMAIN_GET_XML_DESC, { dom: domainToWire(dom), flags }, opts)).xml;
  }
  async domainGetState(dom: Domain, opts?: CallOptions): Promise<DomainState> {
    const r = await this.call(procedures.DOMAIN_GET_STATE, { dom: domainToWire(dom), flags: 0 }, opts);
    return { state: r.state, stateName: stateNames.get(r.state) ?? `STATE_${r.state}`, reason: r.reason };
  }
  /** Whether the domain has a persistent definition (a transient one exists only while it runs). */
  async domainIsPersistent(dom: Domain, opts?: CallOptions): Promise<boolean> {
    return (await this.call(procedures.DOMAIN_IS_PERSISTENT, { dom: domainToWire(dom) }, opts)).persistent === 1;
  }
  async domainDefineXML(xml: string, flags = 0, opts?: CallOptions): Promise<Domain> {
    return domainFromWire((await this.call(procedures.DOMAIN_DEFINE_XML_FLAGS, { xml, flags }, opts)).dom);
  }
  /** Starts a defined domain (virDomainCreateWithFlags). */
  async domainCreate(dom: Domain, flags = 0, opts?: CallOptions): Promise<Domain> {
    return domainFromWire((await this.call(procedures.DOMAIN_CREATE_WITH_FLAGS, { dom: domainToWire(dom), flags }, opts, true)).dom);
  }
  /** Creates and starts a transient domain. */
  async domainCreateXML(xml: string, flags = 0, opts?: CallOptions): Promise<Domain> {
    return domainFromWire((await this.call(procedures.DOMAIN_CREATE_XML, { xml_desc: xml, flags }, opts, true)).dom);
  }
  /** flags: virDomainDestroyFlagsValues (0 = default, i.e. DESTROY_FLAGS with 0). */
  async domainDestroy(dom: Domain, flags = 0, opts?: CallOptions): Promise<void> {
    await this.call(procedures.DOMAIN_DESTROY_FLAGS, { dom: domainToWire(dom), flags }, opts);
  }
  async domainUndefine(dom: Domain, flags = 0, opts?: CallOptions): Promise<void> {
    await this.call(procedures.DOMAIN_UNDEFINE_FLAGS, { dom: domainToWire(dom), flags }, opts);
  }

  /** Pauses the guest's vCPUs (allowed during an outgoing migration: the copy then converges). */
  async domainSuspend(dom: Domain, opts?: CallOptions): Promise<void> {
    await this.call(procedures.DOMAIN_SUSPEND, { dom: domainToWire(dom) }, opts);
  }
  async domainResume(dom: Domain, opts?: CallOptions): Promise<void> {
    await this.call(procedures.DOMAIN_RESUME, { dom: domainToWire(dom) }, opts);
  }
  /** Sizes of one disk (by target, e.g. "vda", or source path), in bytes. */
  async domainGetBlockInfo(
    dom: Domain,
    disk: string,
    flags = 0,
    opts?: CallOptions,
  ): Promise<{ allocation: number; capacity: number; physical: number }> {
    const r = await this.call(procedures.DOMAIN_GET_BLOCK_INFO, { dom: domainToWire(dom), path: disk, flags }, opts);
    return { allocation: Number(r.allocation), capacity: Number(r.capacity), physical: Number(r.physical) };
  }

  // ---- Migration ----
  /**
   * Peer-to-peer migration (flags must include VIR_MIGRATE_PEER2PEER): ONE call to the source's
   * daemon, which talks to the destination (dconnuri) itself. Resolves when the migration ends.
   * params: e.g. { migrate_uri, listen_address, bandwidth, 'parallel.connections' } — types come
   * from libvirt's documentation (typedParamSchema.migrate) or an explicit {type, value}.
   */
  async domainMigratePerform3Params(
    dom: Domain,
    dconnuri: string | null,
    params: TypedParamInput | TypedParam[],
    flags: number,
    opts?: CallOptions,
  ): Promise<Buffer> {
    const list = Array.isArray(params) ? params : buildTypedParams(params, typedParamSchema.migrate);
    const ret = await this.call(
      procedures.DOMAIN_MIGRATE_PERFORM3_PARAMS,
      {
        dom: domainToWire(dom),
        dconnuri,
        params: list.map(toWire),
        cookie_in: Buffer.alloc(0),
        flags,
      },
      opts,
      true,
    );
    return ret.cookie_out;
  }
  /** flags: VIR_DOMAIN_JOB_STATS_COMPLETED (last completed job), …_KEEP_COMPLETED. */
  async domainGetJobStats(dom: Domain, flags = 0, opts?: CallOptions): Promise<JobStats> {
    const r = await this.call(procedures.DOMAIN_GET_JOB_STATS, { dom: domainToWire(dom), flags }, opts);
    const params = r.params.map(fromWire);
    return { type: r.type, typeName: jobTypeNames.get(r.type) ?? `JOB_${r.type}`, params, stats: typedParamsToRecord(params) };
  }
  async domainAbortJob(dom: Domain, opts?: CallOptions): Promise<void> {
    await this.call(procedures.DOMAIN_ABORT_JOB, { dom: domainToWire(dom) }, opts);
  }
  /** flags: VIR_DOMAIN_ABORT_JOB_POSTCOPY to abort a migration in post-copy (libvirt ≥ 8.5). */
  async domainAbortJobFlags(dom: Domain, flags: number, opts?: CallOptions): Promise<void> {
    await this.call(procedures.DOMAIN_ABORT_JOB_FLAGS, { dom: domainToWire(dom), flags }, opts);
  }
  async domainMigrateSetMaxDowntime(dom: Domain, downtimeMs: number | bigint, flags = 0, opts?: CallOptions): Promise<void> {
    await this.call(procedures.DOMAIN_MIGRATE_SET_MAX_DOWNTIME, { dom: domainToWire(dom), downtime: BigInt(downtimeMs), flags }, opts);
  }
  async domainMigrateGetMaxDowntime(dom: Domain, flags = 0, opts?: CallOptions): Promise<number> {
    return Number((await this.call(procedures.DOMAIN_MIGRATE_GET_MAX_DOWNTIME, { dom: domainToWire(dom), flags }, opts)).downtime);
  }
  /** bandwidthMiBps in MiB/s (flags VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY for the post-copy phase). */
  async domainMigrateSetMaxSpeed(dom: Domain, bandwidthMiBps: number | bigint, flags = 0, opts?: CallOptions): Promise<void> {
    await this.call(procedures.DOMAIN_MIGRATE_SET_MAX_SPEED, { dom: domainToWire(dom), bandwidth: BigInt(bandwidthMiBps), flags }, opts);
  }
  async domainMigrateGetMaxSpeed(dom: Domain, flags = 0, opts?: CallOptions): Promise<number> {
    return Number((await this.call(procedures.DOMAIN_MIGRATE_GET_MAX_SPEED, { dom: domainToWire(dom), flags }, opts)).bandwidth);
  }
  async domainMigrateStartPostCopy(dom: Domain, flags = 0, opts?: CallOptions): Promise<void> {
    await this.call(procedures.DOMAIN_MIGRATE_START_POST_COPY, { dom: domainToWire(dom), flags }, opts);
  }

  // ---- Save / restore ----
  /** flags: virDomainSaveRestoreFlags. dxml: alternative domain XML for the image, or null. */
  async domainSaveFlags(dom: Domain, to: string, dxml: string | null = null, flags = 0, opts?: CallOptions): Promise<void> {
    await this.call(procedures.DOMAIN_SAVE_FLAGS, { dom: domainToWire(dom), to, dxml, flags }, opts, true);
  }
  async domainRestoreFlags(from: string, dxml: string | null = null, flags = 0, opts?: CallOptions): Promise<void> {
    await this.call(procedures.DOMAIN_RESTORE_FLAGS, { from, dxml, flags }, opts, true);
  }
  async domainSaveParams(dom: Domain, params: TypedParamInput, flags = 0, opts?: CallOptions): Promise<void> {
    const list = buildTypedParams(params, typedParamSchema.saveRestore).map(toWire);
    await this.call(procedures.DOMAIN_SAVE_PARAMS, { dom: domainToWire(dom), params: list, flags }, opts, true);
  }
  async domainRestoreParams(params: TypedParamInput, flags = 0, opts?: CallOptions): Promise<void> {
    const list = buildTypedParams(params, typedParamSchema.saveRestore).map(toWire);
    await this.call(procedures.DOMAIN_RESTORE_PARAMS, { params: list, flags }, opts, true);
  }
}

export type { EventMap, SupportedEventId };
