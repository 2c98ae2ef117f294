/**
 * The agent's logger. Under systemd (JOURNAL_STREAM names our stdout or
 * stderr) every entry goes to journald's native socket with its priority and
 * its fields (JOB_ID, VM_ID…), so `journalctl -u ferryd -p warning` and
 * `journalctl JOB_ID=…` find it; elsewhere JSON lines on stdout (the lab's
 * log files, `… | jq`), or short human-readable lines when stdout is a
 * terminal. Besides free-form messages, two kinds of entry have a fixed
 * shape that operators can filter on: "rpc" (agent/rpc/logging.ts) and "job"
 * (logJobTransition below).
 */
import { Writable } from 'node:stream';
import winston from 'winston';
import { encodeJournalEntry } from './systemd/journal-entry.js';
import { outputGoesToJournal } from './systemd/journal-stream.js';
import { openJournalWriter } from './systemd/journal-writer.js';

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** error, warn, info or debug (config key log.level). */
  level?: string;
  /** Human-readable lines instead of JSON; default: stdout is a terminal. */
  human?: boolean;
  /** Where lines go; default stdout (tests pass a stream to read them back). */
  stream?: NodeJS.WritableStream;
  /**
   * Entries to journald's native protocol at this socket (tests bind their
   * own). Default: journald's own socket when JOURNAL_STREAM names stdout or
   * stderr, otherwise lines.
   */
  journalSocket?: string;
  /** Read for JOURNAL_STREAM (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** SYSLOG_IDENTIFIER of every journal entry: what `journalctl -t ferryd` selects. */
export const SYSLOG_IDENTIFIER = 'ferryd';

export function createLogger(options: LoggerOptions = {}): Logger {
  // FERRY_LOG_LEVEL is also a config key now; this fallback only serves a
  // main.ts that does not pass the configured level yet.
  const level = options.level ?? process.env.FERRY_LOG_LEVEL ?? 'info';
  const journal = options.journalSocket !== undefined || (options.stream === undefined && outputGoesToJournal(options.env ?? process.env));
  if (journal) {
    return winston.createLogger({
      level,
      // JSON lines are what the journal's fallback writes.
      format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      transports: [journalTransport(options.journalSocket, options.stream ?? process.stdout)],
    });
  }
  const human = options.human ?? process.stdout.isTTY === true;
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console({ stderrLevels: [] });
  return winston.createLogger({
    level,
    format: human
      ? winston.format.combine(winston.format.timestamp({ format: 'HH:mm:ss.SSS' }), winston.format.colorize(), humanLine)
      : winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [transport],
  });
}

/** What winston hands a transport: the level, the message, the fields, and the formatted line under MESSAGE. */
type LogInfo = winston.Logform.TransformableInfo & { [key: symbol]: unknown };
const FORMATTED = Symbol.for('message');

/**
 * A transport (winston's Stream transport over an object-mode stream, which
 * receives each entry whole) that sends entries to journald, or their JSON
 * line to `fallback` when it cannot.
 */
function journalTransport(socket: string | undefined, fallback: NodeJS.WritableStream): winston.transport {
  const writeLine = (line: string) => void fallback.write(`${line}\n`);
  const writer = openJournalWriter({
    ...(socket !== undefined ? { socket } : {}),
    fallback: writeLine,
    onUnusable: (reason) =>
      writeLine(
        JSON.stringify({
          level: 'warn',
          message: 'journald socket unusable: logging JSON lines to stdout, without priorities',
          error: reason,
          timestamp: new Date().toISOString(),
        }),
      ),
  });
  const entries = new Writable({
    objectMode: true,
    write(info: LogInfo, _encoding, done) {
      const { level, message, timestamp: _timestamp, ...fields } = info;
      const text = String(message);
      writer.write(encodeJournalEntry({ level, message: describe(text, fields), fields }, SYSLOG_IDENTIFIER), String(info[FORMATTED]));
      done();
    },
  });
  const transport = new winston.transports.Stream({ stream: entries });
  // The socket keeps the event loop alive: winston calls close() once the
  // logger ends (logger.end(), logger.close()).
  transport.close = () => writer.close();
  return transport;
}

/** "rpc method=/ferry.v1.HostService/GetStats code=OK durationMs=3": a message and its fields, for a person. */
function describe(message: string, meta: Record<string, unknown>): string {
  const fields = Object.entries(meta)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`);
  return [message, ...fields].join(' ');
}

/** "12:00:01.234 info rpc method=/ferry.v1.HostService/GetStats code=OK durationMs=3". */
const humanLine = winston.format.printf(
  ({ timestamp, level, message, ...meta }) => `${timestamp} ${level} ${describe(String(message), meta)}`,
);

/** One change of phase of a migration job, as the migration core sees it. */
export interface JobTransition {
  jobId: string;
  vmId: string;
  /** "outgoing" on the source, "incoming" on the destination. */
  direction: 'outgoing' | 'incoming';
  /** The previous phase (null for a new job), e.g. "QUEUED". */
  from: string | null;
  /** The new phase, e.g. "MIGRATING". */
  to: string;
  /** The other agent (destination or source), when known. */
  peer?: string;
  /** Time since the job was accepted. */
  elapsedMs?: number;
  /** Why, for FAILED and CANCELLED: the failed step and the message. */
  error?: { step: string; code: string; message: string };
  /** Anything else worth a field (bytes, downtime, migrate URI…). */
  extra?: Record<string, string | number | boolean>;
}

/**
 * Logs a job transition as one "job" entry: info, or warn for FAILED, so an
 * operator can follow a migration with `journalctl JOB_ID=…`.
 */
export function logJobTransition(log: Logger, t: JobTransition): void {
  const level = t.to === 'FAILED' || t.to.endsWith('_FAILED') ? 'warn' : 'info';
  log.log(level, 'job', {
    jobId: t.jobId,
    vmId: t.vmId,
    direction: t.direction,
    from: t.from,
    to: t.to,
    ...(t.peer !== undefined ? { peer: t.peer } : {}),
    ...(t.elapsedMs !== undefined ? { elapsedMs: Math.round(t.elapsedMs) } : {}),
    ...(t.error ? { errorStep: t.error.step, errorCode: t.error.code, error: t.error.message } : {}),
    ...t.extra,
  });
}
