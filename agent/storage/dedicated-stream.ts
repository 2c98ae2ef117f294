/**
 * A libvirt volume stream on a connection of its own, held open for as long
 * as the stream lives. A download whose consumer stalls pauses its whole
 * connection (agent/libvirt/README.md, "Back-pressure, download"), and a long
 * upload keeps libvirtd busy with its packets: on the agent's shared
 * connection either would hold back every other call, events and keepalive.
 */
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { LibvirtClient, ReconnectingClient } from '../libvirt/index.js';

/** Opens a stream with `open` on a dedicated connection, which closes once the stream ends, fails or is destroyed. */
export function streamOnDedicatedConnection<S extends Readable | Writable>(
  libvirt: ReconnectingClient,
  open: (client: LibvirtClient) => Promise<S>,
): Promise<S> {
  return new Promise<S>((resolve, reject) => {
    libvirt
      .withDedicatedConnection(async (client) => {
        const stream = await open(client);
        resolve(stream);
        // Its outcome is the stream's consumer's to see; here it only says when the connection may go.
        await finished(stream).catch(() => undefined);
      })
      .catch(reject);
  });
}
