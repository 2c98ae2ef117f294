// ferryd.yaml for a real ferryd started by an integration test: loopback
// gRPC without TLS, the given (mock) libvirtd socket, no firewall, state in
// the test's scratch directory, then the test's own lines.
import net from 'node:net';

/** A loopback port nobody listens on now (ferryd's listen.port cannot be 0). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
export interface TestFerrydConfig {
  port: number;
  libvirtSocket: string;
  /** The scratch directory: state goes to its state/. */
  work: string;
  extra?: readonly string[];
}

export function testFerrydConfig({ port, libvirtSocket, work, extra = [] }: TestFerrydConfig): string {
  return [
    'listen:',
    '  address: 127.0.0.1',
    `  port: ${port}`,
    'tls:',
    '  insecure: true',
    'libvirt:',
    `  socket: ${libvirtSocket}`,
    'firewall:',
    '  backend: none',
    `state_directory: ${work}/state`,
    ...extra,
    '',
  ].join('\n');
}
