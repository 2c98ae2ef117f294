// Connection setup, in the order libvirt's own remote driver uses:
//   1. CONNECT_SUPPORTS_FEATURE(PROGRAM_KEEPALIVE)  (asked before open, as libvirt does;
//      the daemon then pings us too — keepalive.ts answers)
//   2. AUTH_LIST, then AUTH_POLKIT if polkit is what the daemon offers (SASL isn't implemented)
//   3. CONNECT_OPEN(uri)

import { ConnectionError } from './errors.js';
import { VIR_CONNECT_RO } from './generated/constants.gen.js';
import { procedures, RemoteAuthType } from './generated/remote_protocol.gen.js';
import type { Connection } from './rpc/connection.js';
import { startKeepalive, VIR_DRV_FEATURE_PROGRAM_KEEPALIVE, type KeepaliveOptions } from './rpc/keepalive.js';

export interface HandshakeOptions {
  uri: string;
  readOnly: boolean;
  keepalive: KeepaliveOptions | false;
  timeoutMs: number;
}

export interface HandshakeResult {
  authType: number;
  /** Stops keepalive (also stops by itself when the connection closes). */
  stopKeepalive: () => void;
}

export async function handshake(conn: Connection, o: HandshakeOptions): Promise<HandshakeResult> {
  const opts = { timeoutMs: o.timeoutMs };
  let stopKeepalive = (): void => {};
  if (o.keepalive) {
    const { supported } = await conn.call(procedures.CONNECT_SUPPORTS_FEATURE, { feature: VIR_DRV_FEATURE_PROGRAM_KEEPALIVE }, opts);
    if (supported === 1) stopKeepalive = startKeepalive(conn, o.keepalive);
  }
  const { types } = await conn.call(procedures.AUTH_LIST, undefined, opts);
  let authType: number = RemoteAuthType.REMOTE_AUTH_NONE;
  if (types.length > 0 && !types.includes(RemoteAuthType.REMOTE_AUTH_NONE)) {
    if (types.includes(RemoteAuthType.REMOTE_AUTH_POLKIT)) {
      const { complete } = await conn.call(procedures.AUTH_POLKIT, undefined, opts);
      if (complete !== 1) throw new ConnectionError(conn.address, 'polkit authentication did not complete');
      authType = RemoteAuthType.REMOTE_AUTH_POLKIT;
    } else {
      throw new ConnectionError(
        conn.address,
        `daemon requires authentication this client lacks (auth types ${types.join(',')}; SASL is not supported)`,
      );
    }
  }
  await conn.call(procedures.CONNECT_OPEN, { name: o.uri, flags: o.readOnly ? VIR_CONNECT_RO : 0 }, opts);
  return { authType, stopKeepalive };
}
