// Data from libvirtd (virStorageVolDownload…) as a Node Readable in object mode: Buffer chunks
// and, on a sparse stream, StreamHole objects, in the order libvirtd sent them. It ends only
// after libvirtd confirmed the finish handshake, so a failure libvirtd reports at the end (the
// storage backend's virStreamFinish) errors the stream instead of passing as a complete copy.
//
// Back-pressure — why the whole socket is paused. One socket carries every call of the
// connection, and libvirt's protocol has no per-stream flow control: libvirtd sends the next data
// packet as soon as the previous one left its queue (daemonStreamMessageFinished in
// src/remote/remote_daemon_stream.c). libvirt's own client never stops reading and queues without
// bound (the XXX on `rx` in src/rpc/virnetclientstream.c). We bound memory instead: when the
// Readable's buffer is full (push returns false) the connection stops reading its socket, TCP
// fills up, and libvirtd stops sending; _read resumes it. The cost: while a consumer stalls,
// nothing else on the connection is read (replies, events, the daemon's keepalive PINGs). So
// keepalive sends PINGs of its own while paused (keepalive.ts), which keeps libvirtd from
// dropping a stalled but healthy client, and callers that may stall should give a stream a
// connection of its own (ReconnectingClient.withDedicatedConnection). The bound: highWaterMark
// objects, plus at most the packets completed by the socket chunk being decoded, each at most
// STREAM_DATA_MAX bytes.

import { Readable } from 'node:stream';
import type { Packet } from '../wire/packet.js';
import type { StreamSink } from './connection.js';
import { keepErrorsForTheConsumer, nodeStreamOptions, type StreamChannel, type StreamHole, type StreamOptions } from './stream.js';

export class IncomingStream extends Readable implements StreamSink {
  /** 'open' until libvirtd's end of data; 'finishing' until it confirms our finish; then 'done'. */
  private phase: 'open' | 'finishing' | 'done' = 'open';

  constructor(
    private readonly channel: StreamChannel,
    opts: StreamOptions = {},
  ) {
    super(nodeStreamOptions(opts));
    keepErrorsForTheConsumer(this);
  }

  /** Whether holes may arrive (the call asked for a sparse stream). */
  get sparse(): boolean {
    return this.channel.sparse;
  }

  onStreamPacket(p: Packet): void {
    if (this.phase === 'done') return;
    const event = this.channel.interpret(p);
    if (!event) return;
    switch (event.kind) {
      case 'data':
        this.deliver(event.data);
        return;
      case 'hole':
        this.deliver({ hole: event.length });
        return;
      case 'end':
        if (this.phase !== 'open') return;
        this.phase = 'finishing';
        this.channel.finish();
        return;
      case 'finished':
        // libvirtd sends OK only to confirm our finish; an OK without one also means no more data.
        this.phase = 'done';
        this.channel.close();
        this.push(null);
        return;
      case 'failed':
        this.fail(event.error);
        return;
    }
  }

  onStreamInterrupted(err: Error): void {
    this.fail(err);
  }

  override _read(): void {
    this.channel.resumeReading(this);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // Destroyed by its consumer (or its signal) before the end: tell libvirtd to stop.
    if (this.phase !== 'done') {
      this.phase = 'done';
      this.channel.abort();
    }
    callback(err);
  }

  private deliver(chunk: Buffer | StreamHole): void {
    if (!this.push(chunk)) this.channel.pauseReading(this);
  }

  private fail(err: Error): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.channel.close(err);
    this.destroy(err);
  }
}
