/**
 * A log record as a journal entry in journald's native protocol
 * (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/): PRIORITY (syslog's numbers),
 * SYSLOG_IDENTIFIER, MESSAGE, and each structured field under its own name,
 * so that `journalctl -p warning` and `journalctl JOB_ID=…` find them. One
 * datagram per entry: `NAME=value\n`, or for a value with a newline
 * `NAME\n`, its length as a little-endian 64-bit integer, the value, `\n`.
 */

/** syslog priorities (journald's PRIORITY=) of the logger's levels. */
const PRIORITIES: Readonly<Record<string, number>> = { error: 3, warn: 4, info: 6, debug: 7 };

export function journalPriority(level: string): number {
  return PRIORITIES[level] ?? PRIORITIES.info ?? 6;
}

/**
 * Fields with a meaning to journald or journalctl (systemd.journal-fields(7)):
 * a structured field of the same name is sent as FERRY_<NAME> instead, so
 * that, say, a field "errno" does not pose as the errno of the entry.
 */
const RESERVED = new Set([
  'MESSAGE',
  'MESSAGE_ID',
  'PRIORITY',
  'CODE_FILE',
  'CODE_LINE',
  'CODE_FUNC',
  'ERRNO',
  'INVOCATION_ID',
  'USER_INVOCATION_ID',
  'SYSLOG_FACILITY',
  'SYSLOG_IDENTIFIER',
  'SYSLOG_PID',
  'SYSLOG_TIMESTAMP',
  'SYSLOG_RAW',
  'DOCUMENTATION',
  'TID',
  'UNIT',
  'USER_UNIT',
]);

/** journald drops names longer than this. */
const MAX_NAME = 64;
/**
 * A value longer than this is cut (and says so): one entry must fit in one
 * datagram, and journald's large-entry path (a memfd) is not worth it for a
 * log line. A datagram that is still too big goes to the fallback.
 */
export const MAX_VALUE_BYTES = 16 * 1024;

/**
 * jobId → JOB_ID, durationMs → DURATION_MS, fingerprint256 →
 * FINGERPRINT256: journald accepts only [A-Z0-9_], not starting with "_"
 * (fields only journald itself may set) or a digit. Undefined when nothing
 * usable remains.
 */
export function journalFieldName(key: string): string | undefined {
  const name = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toUpperCase()
    .replace(/[^A-Z0-9_]+/g, '_')
    .replace(/^[_0-9]+/, '')
    .slice(0, MAX_NAME);
  if (name === '') return undefined;
  return RESERVED.has(name) ? `FERRY_${name}`.slice(0, MAX_NAME) : name;
}

/** A structured field's value as text: strings as they are, everything else as JSON. */
function fieldText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Error) return value.message;
  return JSON.stringify(value) ?? String(value);
}

export interface JournalRecord {
  level: string;
  /** What `journalctl` shows: one line for a person. */
  message: string;
  /** The structured fields (undefined values are left out). */
  fields: Readonly<Record<string, unknown>>;
}

/** The entry as one datagram. */
export function encodeJournalEntry(record: JournalRecord, identifier: string): Buffer {
  const parts: Buffer[] = [
    encodeField('PRIORITY', String(journalPriority(record.level))),
    encodeField('SYSLOG_IDENTIFIER', identifier),
    encodeField('MESSAGE', record.message),
  ];
  for (const [key, value] of Object.entries(record.fields)) {
    if (value === undefined) continue;
    const name = journalFieldName(key);
    if (name) parts.push(encodeField(name, fieldText(value)));
  }
  return Buffer.concat(parts);
}

function encodeField(name: string, text: string): Buffer {
  const value = capped(Buffer.from(text, 'utf8'));
  if (!value.includes(0x0a)) return Buffer.concat([Buffer.from(`${name}=`), value, NEWLINE]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(value.length));
  return Buffer.concat([Buffer.from(`${name}\n`), length, value, NEWLINE]);
}

const NEWLINE = Buffer.from('\n');

function capped(value: Buffer): Buffer {
  if (value.length <= MAX_VALUE_BYTES) return value;
  // Cut before a character, not inside one: back over UTF-8 continuation bytes.
  let end = MAX_VALUE_BYTES;
  while (end > 0 && ((value[end] ?? 0) & 0xc0) === 0x80) end--;
  const note = Buffer.from(`… [${value.length - end} more bytes cut]`);
  return Buffer.concat([value.subarray(0, end), note]);
}
