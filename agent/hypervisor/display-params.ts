/**
 * The typed parameters that start a guest's consoles on the destination's
 * display address. libvirt starts the destination's QEMU from the definition
 * the source sends; VIR_MIGRATE_PARAM_DEST_XML replaces it with one that
 * "differs only in host-specific parts" (https://libvirt.org/html/libvirt-libvirt-domain.html#VIR_MIGRATE_PARAM_DEST_XML),
 * such as where a console listens. With VIR_MIGRATE_PERSIST_DEST the
 * destination also keeps the source's persistent definition, which names the
 * same address and would stop the guest's next cold start there:
 * VIR_MIGRATE_PARAM_PERSIST_XML gives it the same change. Both documents
 * are libvirt's own migratable XML, read with VIR_DOMAIN_XML_SECURE so that
 * a console's passwd travels as it would without them.
 */
import { constants as c, type Domain, type LibvirtClient, type TypedParamInput } from '../libvirt/index.js';
import type { DisplayListen, DisplayMove } from '../migration/index.js';
import { displayListensOf, withDisplayAddress } from './domain-graphics.js';

const MIGRATABLE = c.VIR_DOMAIN_XML_MIGRATABLE | c.VIR_DOMAIN_XML_SECURE;

/** The consoles as the migration would send them (no passwd needed to say where they listen). */
export async function displayListensOfDomain(client: LibvirtClient, dom: Domain): Promise<DisplayListen[]> {
  return displayListensOf(await client.domainGetXMLDesc(dom, c.VIR_DOMAIN_XML_MIGRATABLE));
}

/** destination_xml (and persistent_xml for a persistent guest) with the consoles moved; {} when none listens on a replaced address now. */
export async function displayParams(client: LibvirtClient, dom: Domain, move: DisplayMove): Promise<TypedParamInput> {
  const [live, persistent] = await Promise.all([client.domainGetXMLDesc(dom, MIGRATABLE), client.domainIsPersistent(dom)]);
  const params: TypedParamInput = {};
  const destination = withDisplayAddress(live, move.replace, move.address);
  if (destination.replaced === 0) return params;
  params[c.VIR_MIGRATE_PARAM_DEST_XML] = destination.xml;
  if (persistent) {
    const inactive = await client.domainGetXMLDesc(dom, MIGRATABLE | c.VIR_DOMAIN_XML_INACTIVE);
    params[c.VIR_MIGRATE_PARAM_PERSIST_XML] = withDisplayAddress(inactive, move.replace, move.address).xml;
  }
  return params;
}
