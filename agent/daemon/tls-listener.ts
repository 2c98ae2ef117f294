/** ferryd's gRPC listener with TLS: the certificate store's material, replaced in place when the files change. */
import type { AgentConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { ConnectionSource } from '../rpc/server.js';
import { listenTls } from '../tls/listener.js';
import type { CertificateStore } from '../tls/store.js';

export function tlsListener(config: AgentConfig, trust: CertificateStore, log: Logger): ConnectionSource {
  return async (inject) => {
    const listener = await listenTls({
      host: config.listen.address,
      port: config.listen.port,
      material: trust.current,
      onConnection: inject,
      log,
    });
    trust.onChange((material) => listener.update(material));
    return listener;
  };
}
