/**
 * Chooses the destination's migration port(s) for a pinhole: a port of the
 * range that no other pinhole has reserved and no socket listens on.
 *
 * A port is reserved synchronously *before* the asynchronous probe, so two
 * concurrent allocations can never pick the same port, with or without the
 * firewall's change queue. The cursor moves round-robin so a port that was just
 * released (whose QEMU may still be exiting) is the last one handed out again.
 */
import { createServer } from 'node:net';
import { FerryError, invalidArgument } from '../../shared/errors.js';
import type { PortRange } from './firewall.js';

/** 'in-use' when something already listens there; throws when it cannot tell. */
export type PortProbe = (address: string, port: number) => Promise<'free' | 'in-use'>;

export class PortAllocator {
  /** port -> owner (a pinhole id). */
  private readonly owners = new Map<number, string>();
  private cursor: number;

  constructor(
    readonly range: Readonly<PortRange>,
    private readonly probe: PortProbe = bindProbe,
  ) {
    validatePortRange(range, 'portRange');
    this.cursor = range.first;
  }

  get size(): number {
    return this.range.last - this.range.first + 1;
  }

  /**
   * Reserve `count` distinct free ports for `owner`, probing each on `address`.
   * RESOURCE_EXHAUSTED when the whole range has been tried without success.
   */
  async allocate(owner: string, count: number, address: string): Promise<number[]> {
    const chosen: number[] = [];
    let busy = 0;
    try {
      for (let tried = 0; tried < this.size && chosen.length < count; tried++) {
        const port = this.cursor;
        this.cursor = port === this.range.last ? this.range.first : port + 1;
        if (this.owners.has(port)) continue;
        this.owners.set(port, owner);
        if ((await this.probe(address, port)) === 'free') {
          chosen.push(port);
        } else {
          this.owners.delete(port);
          busy++;
        }
      }
    } catch (err) {
      for (const port of chosen) this.owners.delete(port);
      for (const [port, o] of this.owners) if (o === owner) this.owners.delete(port);
      throw err;
    }
    if (chosen.length < count) {
      for (const port of chosen) this.owners.delete(port);
      const { first, last } = this.range;
      throw new FerryError(
        'RESOURCE_EXHAUSTED',
        `no free port in the migration port range ${first}-${last} (${this.size} ports: ` +
          `${this.owners.size} reserved by open pinholes, ${busy} in use by listening sockets); ` +
          `close pinholes of finished migrations or widen the firewall port range`,
        { reason: 'PORT_RANGE_EXHAUSTED' },
      );
    }
    return chosen;
  }

  /** Mark ports as owned without probing (a pinhole re-adopted in tests or recovery). */
  reserve(owner: string, ports: readonly number[]): void {
    for (const port of ports) {
      const other = this.owners.get(port);
      if (other !== undefined && other !== owner) {
        throw new FerryError('INTERNAL', `port ${port} is already reserved by pinhole ${other}`);
      }
    }
    for (const port of ports) this.owners.set(port, owner);
  }

  /** Release every port of `owner`; returns them. */
  release(owner: string): number[] {
    const freed: number[] = [];
    for (const [port, o] of this.owners) {
      if (o === owner) {
        this.owners.delete(port);
        freed.push(port);
      }
    }
    return freed;
  }

  releaseAll(): void {
    this.owners.clear();
  }

  /** Ports reserved now, ascending. */
  reserved(): number[] {
    return [...this.owners.keys()].sort((a, b) => a - b);
  }
}

export function validatePortRange(range: Readonly<PortRange> | undefined, field: string): void {
  const ok = (p: unknown): p is number => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;
  if (!range || !ok(range.first) || !ok(range.last) || range.first > range.last) {
    throw invalidArgument(
      field,
      `${JSON.stringify(range)} is not a port range; give {first, last} with 1 <= first <= last <= 65535 (default 49152-49215)`,
    );
  }
}

/**
 * The default probe: try to bind a listening socket on address:port. The kernel
 * refuses with EADDRINUSE when another socket (QEMU's, even bound to a wildcard
 * address) listens there. A port in TIME_WAIT is reported free, as it is to
 * QEMU, which also binds with SO_REUSEADDR.
 */
export const bindProbe: PortProbe = (address, port) =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        resolve('in-use');
      } else {
        reject(
          new FerryError(
            'FAILED_PRECONDITION',
            `cannot bind ${address} port ${port} to check that it is free (${err.code ?? err.message}); ` +
              `check that ${address} is configured on this host`,
            { field: 'destination' },
            { cause: err },
          ),
        );
      }
    });
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolve('free')));
  });
