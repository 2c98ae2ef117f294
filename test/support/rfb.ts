/**
 * A minimal RFB client (RFC 6143) for the display tests: it connects to a
 * VNC server, reads the ProtocolVersion greeting ("RFB 003.008\n", §7.1.1),
 * and, when the server offers security type None (§7.2.1), goes on to the
 * ServerInit message (§7.3.2), whose framebuffer size and desktop name
 * (QEMU's is "QEMU (GUEST)") say which guest's console answered and that it
 * has a display.
 */
import net from 'node:net';

export interface RfbGreeting {
  /** The greeting as sent, without its newline, e.g. "RFB 003.008". */
  version: string;
  /** From ServerInit; absent when the server wants authentication. */
  server?: { width: number; height: number; name: string };
}

const SECURITY_NONE = 1;

export function rfbGreeting(host: string, port: number, timeoutMs = 10_000): Promise<RfbGreeting> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => fail(new Error(`no RFB handshake from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    let buffered = Buffer.alloc(0);
    let step: (() => boolean) | undefined;
    const done = (greeting: RfbGreeting) => {
      step = undefined;
      clearTimeout(timer);
      socket.destroy();
      resolve(greeting);
    };
    function fail(err: Error) {
      step = undefined;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }
    /** Takes n bytes once they are there; undefined until then. */
    const take = (n: number): Buffer | undefined => {
      if (buffered.length < n) return undefined;
      const head = buffered.subarray(0, n);
      buffered = buffered.subarray(n);
      return head;
    };
    let version = '';
    const readVersion = () => {
      const text = take(12);
      if (!text) return false;
      version = text.toString('latin1').trimEnd();
      if (!/^RFB \d{3}\.\d{3}$/.test(version)) fail(new Error(`not an RFB greeting: ${JSON.stringify(text.toString('latin1'))}`));
      else {
        socket.write('RFB 003.008\n');
        step = readSecurityTypes;
      }
      return true;
    };
    const readSecurityTypes = () => {
      const count = buffered[0];
      if (count === undefined || buffered.length < 1 + count) return false;
      const message = take(1 + count);
      if (!message) return false;
      const types = [...message.subarray(1)];
      if (!types.includes(SECURITY_NONE)) {
        done({ version });
        return true;
      }
      socket.write(Buffer.from([SECURITY_NONE]));
      step = readSecurityResult;
      return true;
    };
    const readSecurityResult = () => {
      const result = take(4);
      if (!result) return false;
      if (result.readUInt32BE(0) !== 0) fail(new Error(`RFB security handshake failed (result ${result.readUInt32BE(0)})`));
      else {
        socket.write(Buffer.from([1])); // ClientInit: shared, other viewers stay connected
        step = readServerInit;
      }
      return true;
    };
    const readServerInit = () => {
      if (buffered.length < 24) return false;
      const nameLength = buffered.readUInt32BE(20);
      const init = take(24 + nameLength);
      if (!init) return false;
      done({
        version,
        server: { width: init.readUInt16BE(0), height: init.readUInt16BE(2), name: init.subarray(24).toString('utf8') },
      });
      return true;
    };
    step = readVersion;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (step?.()) {
        /* each step consumed its message */
      }
    });
    socket.on('error', fail);
    socket.on('close', () => fail(new Error(`${host}:${port} closed the connection during the RFB handshake`)));
  });
}
