/**
 * The /metrics endpoint: plain HTTP on its own address (loopback by
 * default), GET /metrics in the Prometheus text format, every other path
 * 404 and every other method 405. Remote scrapes bind it to an address the
 * scraper reaches (docs/operations.md#metrics); it carries no credentials
 * and changes nothing, so it takes no client certificate.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { FerryError, errorMessage } from '../../../shared/errors.js';

export const METRICS_PATH = '/metrics';

export interface MetricsServer {
  /** The port bound (the configured one, or the one chosen for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  address: string;
  port: number;
  registry: Registry;
  onError?: (err: unknown) => void;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry } = options;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== METRICS_PATH) return answer(res, 404, `not found: the metrics are at ${METRICS_PATH}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return answer(res, 405, `${req.method} is not allowed: use GET\n`);
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        options.onError?.(err);
        answer(res, 500, `the metrics could not be collected: ${errorMessage(err)}\n`);
      },
    );
  });
  // Prometheus keeps its connection between scrapes (every 15 to 60 s): let it stay idle that long.
  // close() ends it at once, so it never holds ferryd's shutdown.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, options)));
    server.listen(options.port, options.address, () => resolve());
  });
  server.on('error', (err) => options.onError?.(err));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function answer(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

function listenError(err: NodeJS.ErrnoException, options: MetricsServerOptions): FerryError {
  const where = `${options.address.includes(':') ? `[${options.address}]` : options.address}:${options.port}`;
  const hint =
    err.code === 'EADDRINUSE'
      ? 'another process listens there: choose another metrics.port'
      : err.code === 'EADDRNOTAVAIL'
        ? 'it is not an address of this host: set metrics.address to one of its addresses (or 127.0.0.1)'
        : 'check metrics.address and metrics.port';
  return new FerryError('FAILED_PRECONDITION', `metrics endpoint: cannot listen on ${where}: ${err.code ?? err.message}; ${hint}`, {
    field: 'metrics.address',
  });
}
