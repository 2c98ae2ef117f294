/**
 * The command that re-issues a host certificate with an address it lacks
 * (scripts/pki, installed as ferry-pki): a destination opens a pinhole only
 * for a source_migration_address among the source certificate's IP SANs
 * (docs/operations.md, trust model), so a host whose migration address is not
 * there cannot migrate out. The command keeps every name and address the
 * certificate has, adds the missing ones, and keeps the host's key.
 */
export function reissueCommand(
  identity: { name: string; dnsNames: readonly string[]; ipAddresses: readonly string[] },
  missing: readonly string[],
): string {
  const ips = [...new Set([...identity.ipAddresses, ...missing])];
  // pki host adds NAME as a DNS SAN itself.
  const dns = identity.dnsNames.filter((d) => d !== identity.name);
  return [
    'ferry-pki host CADIR',
    identity.name || 'NAME',
    ...ips.map((ip) => `--ip ${ip}`),
    ...dns.map((d) => `--dns ${d}`),
    '--keep-key --install /etc/ferry/pki',
  ].join(' ');
}

/** What to do after it: ferryd takes the new files by itself; libvirt and QEMU need their copies. */
export const AFTER_REISSUE = 'then on that host `systemctl reload ferryd` (or wait 5 s) and `ferry-pki libvirt`';

/** Start-up and reload: this host's migration addresses its own certificate does not list, one warning for all. */
export function certificateAddressWarning(
  identity: { name: string; dnsNames: readonly string[]; ipAddresses: readonly string[] },
  migrationAddresses: readonly string[],
): string {
  const listed = new Set(identity.ipAddresses.map((a) => a.toLowerCase()));
  const missing = migrationAddresses.filter((a) => !listed.has(a.toLowerCase()));
  if (missing.length === 0) return '';
  return (
    `this host's migration address${missing.length > 1 ? 'es' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not in its certificate ` +
    `(${identity.name}: ${identity.ipAddresses.join(', ') || 'no IP address'}), so other hosts refuse pinholes for migrations from it: ` +
    `${reissueCommand(identity, missing)}, ${AFTER_REISSUE}`
  );
}
