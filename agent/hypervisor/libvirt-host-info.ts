/** The Host service's HypervisorInfo port over the libvirt client. */
import { versionText } from '../../shared/libvirt-version.js';
import { constants as c, type ReconnectingClient } from '../libvirt/index.js';
import type { HypervisorInfo, VmSummary } from '../host/host-facts.js';
import { boundedCall, DEFAULT_CALL_TIMEOUT_MS } from './call-deadline.js';

const STATE_NAMES: Record<number, string> = {
  [c.VIR_DOMAIN_NOSTATE]: 'nostate',
  [c.VIR_DOMAIN_RUNNING]: 'running',
  [c.VIR_DOMAIN_BLOCKED]: 'blocked',
  [c.VIR_DOMAIN_PAUSED]: 'paused',
  [c.VIR_DOMAIN_SHUTDOWN]: 'shutdown',
  [c.VIR_DOMAIN_SHUTOFF]: 'shutoff',
  [c.VIR_DOMAIN_CRASHED]: 'crashed',
  [c.VIR_DOMAIN_PMSUSPENDED]: 'pmsuspended',
};

export function libvirtHostInfo(libvirt: ReconnectingClient, options: { callTimeoutMs?: number } = {}): HypervisorInfo {
  const ms = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const call = <T>(fn: (client: Awaited<ReturnType<ReconnectingClient['client']>>) => Promise<T>): Promise<T> =>
    boundedCall(ms, 'host facts', 'host', async () => fn(await libvirt.client()));
  return {
    hostname: () => call((cl) => cl.connectGetHostname()),
    hostUuid: () => call(async (cl) => /<host>\s*<uuid>([^<]+)<\/uuid>/.exec(await cl.connectGetCapabilities())?.[1] ?? ''),
    libvirtVersion: () => call(async (cl) => versionText(await cl.connectGetLibVersion())),
    qemuVersion: () => call(async (cl) => versionText(await cl.connectGetVersion())),
    listVms: () =>
      call(async (cl) => {
        const [domains, persistent] = await Promise.all([
          cl.connectListAllDomains(0),
          cl.connectListAllDomains(c.VIR_CONNECT_LIST_DOMAINS_PERSISTENT),
        ]);
        const persistentIds = new Set(persistent.map((d) => d.uuid));
        return Promise.all(
          domains.map(async (dom): Promise<VmSummary> => {
            const [state, xml] = await Promise.all([cl.domainGetState(dom), cl.domainGetXMLDesc(dom)]);
            return {
              id: dom.uuid,
              name: dom.name,
              state: STATE_NAMES[state.state] ?? 'unknown',
              stateReason: String(state.reason),
              memoryBytes: kib(/<currentMemory unit='KiB'>(\d+)</.exec(xml)?.[1]),
              vcpus: Number(/<vcpu[^>]*>(\d+)</.exec(xml)?.[1] ?? 0),
              persistent: persistentIds.has(dom.uuid),
            };
          }),
        );
      }),
  };
}

function kib(value: string | undefined): number {
  return value ? Number(value) * 1024 : 0;
}
