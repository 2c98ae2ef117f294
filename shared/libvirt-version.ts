/** libvirt's version numbers (virConnectGetLibVersion, virConnectGetVersion): major * 1,000,000 + minor * 1,000 + release. */
export function versionText(n: number): string {
  return `${Math.floor(n / 1_000_000)}.${Math.floor(n / 1000) % 1000}.${n % 1000}`;
}
