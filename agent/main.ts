#!/usr/bin/env node
/**
 * ferryd: the composition root. It wires the adapters (gRPC, libvirt,
 * firewall) to the core and owns the process lifecycle; nothing else in the
 * agent reads flags, the environment or signals.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { startGrpcServer, setServing } from './rpc/server.js';
import { createLogger } from './log.js';

const DEFAULT_LISTEN = '0.0.0.0:54321';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string', default: process.env.FERRY_LISTEN ?? DEFAULT_LISTEN },
      insecure: { type: 'boolean', default: process.env.FERRY_INSECURE === '1' },
    },
  });
  const log = createLogger();
  if (!values.insecure) {
    // mTLS arrives with the trust issue; until then the agent refuses to run
    // unauthenticated unless the operator says so explicitly.
    log.error('no TLS credentials are configured: start with --insecure (lab and tests only)');
    process.exit(2);
  }
  log.warn('INSECURE: gRPC runs in plaintext without client authentication; never do this in production');

  const running = await startGrpcServer({
    address: values.listen!,
    credentials: grpc.ServerCredentials.createInsecure(),
    services: { migration: {}, peer: {}, host: {} },
  });
  setServing(running.health, true);
  log.info('ferryd listening', { address: values.listen, port: running.port });

  const stop = (signal: string) => {
    log.info('shutting down', { signal });
    void running.shutdown().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`ferryd: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
