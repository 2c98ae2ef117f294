// libvirt's keepalive protocol (src/rpc/virkeepaliveprotocol.x, virkeepalive.c): a separate
// program 0x6b656570 whose PING/PONG are one-way MESSAGE packets with serial 0.
//
// Why: a daemon that is hung (not dead) keeps the TCP/unix connection open forever, so
// "socket closed" never fires and every call would wait for its own timeout. With keepalive we
// notice within interval × count and end the connection, which rejects everything pending.
//
// Semantics copied from libvirt's client: when nothing has been received for `intervalMs`, send
// a PING; any packet received counts as proof of life; after `count` unanswered PINGs in a row,
// the peer is declared dead. Asking the daemon CONNECT_SUPPORTS_FEATURE(PROGRAM_KEEPALIVE) also
// makes it ping us (and drop us if we don't answer), so we always answer PING with PONG.
//
// While a stream holds reading paused (its consumer is slow), silence is ours, not the daemon's:
// we neither judge it nor can we read the daemon's PINGs to answer them. The daemon counts any
// packet from us as proof of life (virKeepAliveCheckMessage in src/rpc/virkeepalive.c), so we
// send a PING every interval instead, and the daemon keeps the connection for as long as the
// consumer stalls.

import { ConnectionError } from '../errors.js';
import {
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  MessageStatus,
  MessageType,
  type Packet,
} from '../wire/packet.js';
import type { Connection } from './connection.js';

/**
 * VIR_DRV_FEATURE_PROGRAM_KEEPALIVE from libvirt's src/libvirt_internal.h (9.0.0). It is an
 * internal driver feature, so it is not in libvirt-api.xml; the value is wire ABI and stable.
 */
export const VIR_DRV_FEATURE_PROGRAM_KEEPALIVE = 10;

export interface KeepaliveOptions {
  /** Idle time before a PING is sent (libvirt's client default is 5 s). */
  intervalMs: number;
  /** Unanswered PINGs before the connection is declared dead (libvirt's default is 5). */
  count: number;
}

export const DEFAULT_KEEPALIVE: KeepaliveOptions = { intervalMs: 5_000, count: 5 };

function header(procedure: number) {
  return {
    program: KEEPALIVE_PROGRAM,
    version: KEEPALIVE_PROTOCOL_VERSION,
    procedure,
    type: MessageType.MESSAGE,
    serial: 0,
    status: MessageStatus.OK,
  };
}

/** Answers a keepalive packet; returns false if the packet isn't keepalive. */
export function handleKeepalivePacket(conn: Connection, p: Packet): boolean {
  if (p.header.program !== KEEPALIVE_PROGRAM) return false;
  if (p.header.procedure === KEEPALIVE_PROC_PING) conn.send(header(KEEPALIVE_PROC_PONG));
  // PONG needs no action: receiving any packet already updated conn.lastReceived.
  return true;
}

/** Starts pinging an idle connection; returns a stop function. Stops by itself on close. */
export function startKeepalive(conn: Connection, opts: KeepaliveOptions = DEFAULT_KEEPALIVE): () => void {
  let unanswered = 0;
  let lastSeen = conn.lastReceived;
  // Check a few times per interval so an idle period is measured with ~interval/4 precision.
  const tick = Math.max(50, Math.floor(opts.intervalMs / 4));
  let lastPing = 0;
  const timer = setInterval(() => {
    if (!conn.isOpen) return stop();
    const now = performance.now();
    if (conn.readingPaused) {
      unanswered = 0;
      if (now - lastPing >= opts.intervalMs) {
        lastPing = now;
        conn.send(header(KEEPALIVE_PROC_PING));
      }
      return;
    }
    if (conn.lastReceived !== lastSeen) {
      lastSeen = conn.lastReceived;
      unanswered = 0;
    }
    const idleFor = now - Math.max(lastSeen, lastPing);
    if (idleFor < opts.intervalMs) return;
    if (unanswered >= opts.count) {
      conn.destroy(
        new ConnectionError(
          conn.address,
          `keepalive: no response from the daemon for ${Math.round(now - lastSeen)} ms (${unanswered} pings unanswered); assuming it is hung`,
        ),
      );
      return stop();
    }
    unanswered++;
    lastPing = now;
    conn.send(header(KEEPALIVE_PROC_PING));
  }, tick);
  timer.unref(); // keepalive alone must not keep the process alive
  const offClose = conn.onClose(() => stop());
  function stop(): void {
    clearInterval(timer);
    offClose();
  }
  return stop;
}
