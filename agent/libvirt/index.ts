// Public surface of the libvirt remote-protocol client. Everything a caller needs is exported
// here; deeper paths are internal. This library imports only node builtins and its own files.

export { LibvirtClient, type ConnectOptions, type DomainState, type JobStats } from './client.js';
export {
  ReconnectingClient,
  defaultRetryStrategy,
  type ClientStatus,
  type ReconnectOptions,
} from './reconnecting-client.js';
export { formatUuid, parseUuid, type Domain } from './domain.js';
export {
  StorageApi,
  type StoragePool,
  type StoragePoolInfo,
  type StorageVol,
  type StorageVolInfo,
  type VolRange,
  type VolTransferOptions,
} from './storage.js';
export { isStreamHole, type StreamHole, type StreamOptions } from './rpc/stream.js';
export { IncomingStream } from './rpc/stream-incoming.js';
export { OutgoingStream } from './rpc/stream-outgoing.js';
export type {
  DomainEvent,
  EventMap,
  JobCompletedEvent,
  LifecycleEvent,
  MigrationIterationEvent,
  SupportedEventId,
} from './events.js';
export {
  CallTimeoutError,
  ClosedError,
  ConnectionError,
  InterruptedError,
  LibvirtError,
  ProtocolError,
  XdrDecodeError,
  XdrEncodeError,
  errorCodeName,
  isAuthFailed,
  isDisconnected,
  isNoDomain,
  isNoSupport,
  isOperationAborted,
  isOperationInvalid,
  isOperationTimeout,
} from './errors.js';
export {
  buildTypedParams,
  numberField,
  typedParam,
  typedParamsToRecord,
  type Typed,
  type TypedParam,
  type TypedParamInput,
  type TypedParamType,
  type TypedValue,
} from './typed-params.js';
export type { Dialer } from './rpc/dialers/dialer.js';
export { unixDialer, DEFAULT_SOCKET_PATH, VIRTQEMUD_SOCKET_PATH } from './rpc/dialers/unix.js';
export { tcpDialer, DEFAULT_TCP_PORT } from './rpc/dialers/tcp.js';
export { tlsDialer, DEFAULT_TLS_PORT, type TlsDialerOptions } from './rpc/dialers/tls.js';
export type { CallOptions } from './rpc/connection.js';
export type { KeepaliveOptions } from './rpc/keepalive.js';
/** All libvirt-api.xml constants (migrate flags, typed-param names, error codes, event ids, states…). */
export * as constants from './generated/constants.gen.js';
export { RemoteProcedure, REMOTE_PROTOCOL_SOURCE_VERSION } from './generated/remote_protocol.gen.js';
export { escapeXml, unescapeXml } from './xml-text.js';
