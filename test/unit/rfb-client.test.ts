// The display tests' RFB client (test/support/rfb.ts) against a loopback
// server speaking RFC 6143's handshake: what it reads from a server without
// authentication, from one that wants a password, and from a server that is
// not RFB at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { rfbGreeting } from '../support/rfb.js';

/** A one-connection server: sends `greeting`, then answers each client message with the next reply. */
async function server(greeting: string, replies: Buffer[]): Promise<{ port: number; received: Buffer[]; close: () => void }> {
  const received: Buffer[] = [];
  const srv = net.createServer((socket) => {
    socket.write(greeting);
    socket.on('data', (chunk) => {
      received.push(chunk);
      const reply = replies.shift();
      if (reply) socket.write(reply);
    });
    socket.on('error', () => undefined);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { port: (srv.address() as net.AddressInfo).port, received, close: () => srv.close() };
}

function serverInit(width: number, height: number, name: string): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt16BE(width, 0);
  head.writeUInt16BE(height, 2);
  head.writeUInt32BE(Buffer.byteLength(name), 20);
  return Buffer.concat([head, Buffer.from(name)]);
}

test('security type None: the greeting, then ServerInit with the framebuffer and the desktop name', async () => {
  const s = await server('RFB 003.008\n', [Buffer.from([2, 2, 1]), Buffer.from([0, 0, 0, 0]), serverInit(720, 400, 'QEMU (disp-vnc)')]);
  try {
    assert.deepEqual(await rfbGreeting('127.0.0.1', s.port), {
      version: 'RFB 003.008',
      server: { width: 720, height: 400, name: 'QEMU (disp-vnc)' },
    });
    assert.deepEqual(Buffer.concat(s.received), Buffer.from([...Buffer.from('RFB 003.008\n'), 1, 1]), 'version, None, shared');
  } finally {
    s.close();
  }
});

test('a server that wants a password: the greeting only', async () => {
  const s = await server('RFB 003.008\n', [Buffer.from([1, 2])]);
  try {
    assert.deepEqual(await rfbGreeting('127.0.0.1', s.port), { version: 'RFB 003.008' });
  } finally {
    s.close();
  }
});

test('not RFB: refused with what was read', async () => {
  const s = await server('SSH-2.0-OpenSSH_9.2\r\n', []);
  try {
    await assert.rejects(rfbGreeting('127.0.0.1', s.port), /not an RFB greeting: "SSH-2\.0-Ope/);
  } finally {
    s.close();
  }
});
