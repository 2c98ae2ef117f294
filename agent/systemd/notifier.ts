/**
 * ferryd's side of systemd's Type=notify protocol (sd_notify(3)): READY=1
 * once it can serve, STATUS= lines with the migrations in progress,
 * RELOADING=1 … READY=1 around a reload, STOPPING=1 on shutdown, and
 * WATCHDOG=1 pings. The pings come from a timer
 * on the event loop, so a loop that is blocked stops pinging and systemd
 * restarts the service (WatchdogSec= in ferryd.service).
 *
 * Without NOTIFY_SOCKET (started by hand, in tests, in the lab) every method
 * is a no-op, so the composition root calls them unconditionally.
 */
import type { MigrationCounts } from '../host/host-facts.js';
import { openDatagramSender, type DatagramSender } from './unix-datagram.js';

/** The subset of a winston logger the notifier uses. */
export interface NotifierLog {
  warn(message: string, meta?: Record<string, unknown>): unknown;
  debug(message: string, meta?: Record<string, unknown>): unknown;
}

export interface SystemdNotifier {
  /** NOTIFY_SOCKET was set and could be opened. */
  readonly enabled: boolean;
  /** Milliseconds between watchdog pings; 0 when systemd set no watchdog. */
  readonly watchdogIntervalMs: number;
  /** READY=1 with a status line. Call after gRPC listens, libvirt is connected and the firewall reconciled. */
  ready(status: string): Promise<void>;
  /** A free-form STATUS= line (shown by `systemctl status ferryd`). */
  status(text: string): Promise<void>;
  /**
   * RELOADING=1 with MONOTONIC_USEC=, the CLOCK_MONOTONIC time in µs that
   * systemd (>= 253, Type=notify-reload) requires with it, so that it
   * waits for the next READY=1 and can tell that READY=1 from one sent
   * before its reload request. Nothing before ready(): a reload while
   * starting must not end with a READY=1 before the real one.
   */
  reloading(): Promise<void>;
  /** READY=1 after a reload (also one that failed), the ready() status followed by what the reload did. */
  reloaded(outcome: string): Promise<void>;
  /**
   * Appends the migration counts to every STATUS= line ("ready on …; 2
   * outgoing, 1 incoming, 0 queued migrations") and sends a new line whenever
   * they change, checked every statusIntervalMs or watchdog period, whichever
   * is shorter.
   */
  trackMigrations(counts: () => MigrationCounts): void;
  /** STOPPING=1; the watchdog keeps pinging while running calls drain. */
  stopping(status?: string): Promise<void>;
  /** Stops the timers and closes the socket. */
  close(): void;
}

export interface NotifierOptions {
  /** Read for NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, which are then deleted from it so children do not inherit them. */
  env: NodeJS.ProcessEnv;
  log: NotifierLog;
  pid?: number;
  /** How often trackMigrations looks without a watchdog (default 5 s). */
  statusIntervalMs?: number;
  /** CLOCK_MONOTONIC in µs (default: process.hrtime, which libuv reads from CLOCK_MONOTONIC on Linux). */
  monotonicUsec?: () => bigint;
}

/** "2 outgoing, 1 incoming, 0 queued migrations". */
export function formatMigrationStatus(counts: MigrationCounts): string {
  return `${counts.outgoing} outgoing, ${counts.incoming} incoming, ${counts.queued} queued migrations`;
}

/** Half the watchdog timeout, as sd_watchdog_enabled(3) recommends; 0 when not for us. */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return 0;
  // WATCHDOG_PID names the process the watchdog is for; a child that
  // inherited the variables must not ping on its parent's behalf.
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return 0;
  return Math.max(1, Math.floor(usec / 2000));
}

export function startSystemdNotifier(options: NotifierOptions): SystemdNotifier {
  const { env, log } = options;
  const pid = options.pid ?? process.pid;
  const path = env.NOTIFY_SOCKET;
  const intervalMs = watchdogInterval(env, pid);
  for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[name];

  let socket: DatagramSender | undefined;
  if (path) {
    try {
      socket = openDatagramSender(path, 'NOTIFY_SOCKET');
    } catch (err) {
      log.warn('cannot notify systemd; Type=notify will time out', { error: (err as Error).message });
    }
  }

  let failedOnce = false;
  const send = async (message: string): Promise<void> => {
    if (!socket) return;
    try {
      socket.send(message);
      log.debug('sd_notify', { message: message.replace(/\n/g, ' ') });
    } catch (err) {
      // Once: a dead socket would otherwise log on every watchdog ping.
      if (!failedOnce) log.warn('sd_notify failed', { error: (err as Error).message, message: message.split('\n')[0] });
      failedOnce = true;
    }
  };

  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, fn: () => void) => {
    const timer = setInterval(fn, ms);
    // The gRPC server keeps the process alive; these timers must not.
    timer.unref();
    timers.push(timer);
  };
  if (socket && intervalMs > 0) every(intervalMs, () => void send('WATCHDOG=1'));

  // STATUS= is "<what the agent is doing>; <migration counts>" once tracked.
  let base = 'starting';
  // What ready() said: a reload's READY=1 says it again, with the reload's outcome.
  let readyStatus: string | undefined;
  const monotonicUsec = options.monotonicUsec ?? (() => process.hrtime.bigint() / 1000n);
  let counts: (() => MigrationCounts) | undefined;
  let lastStatus = '';
  const statusLine = () => {
    let suffix = '';
    try {
      if (counts) suffix = `; ${formatMigrationStatus(counts())}`;
    } catch {
      // A status line is not worth crashing the agent from a timer.
      suffix = '; migration counts unavailable';
    }
    lastStatus = `${base}${suffix}`;
    return `STATUS=${lastStatus}`;
  };

  return {
    enabled: socket !== undefined,
    watchdogIntervalMs: socket ? intervalMs : 0,
    ready(status) {
      readyStatus = oneLine(status);
      base = readyStatus;
      return send(`READY=1\n${statusLine()}\nMAINPID=${pid}`);
    },
    status(text) {
      base = oneLine(text);
      return send(statusLine());
    },
    async reloading() {
      if (readyStatus === undefined) return;
      base = `${readyStatus}; reloading`;
      await send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}\n${statusLine()}`);
    },
    async reloaded(outcome) {
      if (readyStatus === undefined) return;
      base = `${readyStatus}; ${oneLine(outcome)}`;
      await send(`READY=1\n${statusLine()}`);
    },
    trackMigrations(source) {
      counts = source;
      if (!socket) return;
      const period = Math.min(options.statusIntervalMs ?? 5000, intervalMs || Infinity);
      every(period, () => {
        const previous = lastStatus;
        const line = statusLine();
        if (lastStatus !== previous) void send(line);
      });
    },
    stopping(status = 'stopping') {
      base = oneLine(status);
      return send(`STOPPING=1\n${statusLine()}`);
    },
    close() {
      for (const timer of timers.splice(0)) clearInterval(timer);
      socket?.close();
      socket = undefined;
    },
  };
}

/** A STATUS= value ends at the newline that separates assignments. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ');
}
