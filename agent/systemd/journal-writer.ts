/**
 * Sends journal entries to journald's native socket, each with a fallback
 * line for when it cannot: an entry journald's queue has no room for, or one
 * too big for a datagram, goes out as its fallback line; a socket that is
 * gone or refuses (ENOENT, ECONNREFUSED…) sends every later entry that way
 * too, after telling the caller once. The fallback is stdout, which systemd
 * also hands to journald, only without priorities and fields.
 */
import { DatagramError, openDatagramSender, type DatagramSender } from './unix-datagram.js';

/** Where journald listens for native entries (sd_journal_sendv(3)). */
export const JOURNAL_SOCKET = '/run/systemd/journal/socket';

export interface JournalWriter {
  write(entry: Buffer, fallbackLine: string): void;
  close(): void;
}

export interface JournalWriterOptions {
  /** Default JOURNAL_SOCKET; tests bind their own. */
  socket?: string;
  /** Writes one line (the caller's plain output, e.g. stdout). */
  fallback: (line: string) => void;
  /** Once, when the socket turns out unusable, with why. */
  onUnusable: (reason: string) => void;
}

/** Errors that concern one datagram (a full queue, too big); the socket stays in use. */
const TRANSIENT = new Set(['EAGAIN', 'EMSGSIZE', 'ENOBUFS']);

export function openJournalWriter(options: JournalWriterOptions): JournalWriter {
  const path = options.socket ?? JOURNAL_SOCKET;
  let socket: DatagramSender | undefined;
  const giveUp = (reason: string) => {
    socket?.close();
    socket = undefined;
    options.onUnusable(reason);
  };
  try {
    socket = openDatagramSender(path, 'the journal socket');
  } catch (err) {
    giveUp((err as Error).message);
  }
  return {
    write(entry, fallbackLine) {
      if (!socket) return options.fallback(fallbackLine);
      try {
        socket.send(entry);
      } catch (err) {
        if (!(err instanceof DatagramError && TRANSIENT.has(err.code))) giveUp((err as Error).message);
        options.fallback(fallbackLine);
      }
    },
    close() {
      socket?.close();
      socket = undefined;
    },
  };
}
