/**
 * libvirt's domain capabilities (virConnectGetDomainCapabilities) read for
 * the checks: the host-model CPU, written as a custom <cpu> that libvirt's
 * compareHypervisorCPU accepts (the destination compares the source host's
 * CPU with its own for a guest that sees the host's CPU).
 */
import { attr, elements, firstElement } from './domain-xml.js';

/** The host-model CPU as a <cpu> element; '' when libvirt reports none. */
export function hostModelCpuOf(domcapsXml: string): string {
  const cpu = firstElement(domcapsXml, 'cpu')?.body ?? '';
  const hostModel = elements(cpu, 'mode').find((m) => attr(m.attributes, 'name') === 'host-model');
  if (!hostModel || attr(hostModel.attributes, 'supported') !== 'yes') return '';
  const model = firstElement(hostModel.body, 'model');
  if (!model?.body.trim()) return '';
  const parts = [`<model fallback='forbid'>${model.body.trim()}</model>`];
  const vendor = firstElement(hostModel.body, 'vendor');
  if (vendor?.body.trim()) parts.push(`<vendor>${vendor.body.trim()}</vendor>`);
  for (const feature of elements(hostModel.body, 'feature')) parts.push(feature.text);
  return `<cpu mode='custom' match='exact'>${parts.join('')}</cpu>`;
}
