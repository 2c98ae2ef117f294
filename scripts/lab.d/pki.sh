# shellcheck shell=bash
# The lab's PKI, made with scripts/pki: one CA for the whole lab; a
# certificate per host (CN labN, role peer, SANs labN + management and
# migration addresses) used by ferryd, libvirtd and QEMU alike; and the
# engine's credentials for the root namespace (tests, ferryctl, the demo),
# under the names ferryctl looks for in /etc/ferry/pki:
#   $LAB_PKI/ca.pem  $LAB_PKI/engine.pem  $LAB_PKI/engine-key.pem
#   $LAB_PKI/hosts/labN.pem + labN-key.pem
# Inside each host, libvirt's and QEMU's copies are where they are on a
# hypervisor, /etc/pki/{CA,libvirt,qemu} (`pki libvirt` writes them under
# the host's root/, which host-boot.sh mounts on the host's /etc/pki), so
# libvirtd.conf, qemu.conf and the P2P URI name no file.

LAB_PKI="$LAB_DIR/pki"
PKI_SCRIPT="$(cd "$LAB_SCRIPT_DIR/.." && pwd)/pki"

host_cert() { printf '%s/hosts/%s.pem' "$LAB_PKI" "$1"; }
host_key() { printf '%s/hosts/%s-key.pem' "$LAB_PKI" "$1"; }

# A certificate is kept while it verifies against the lab CA and has more
# than 30 days left.
cert_usable() {
  [[ -s $1 ]] && openssl verify -CAfile "$LAB_PKI/ca.pem" "$1" >/dev/null 2>&1 &&
    openssl x509 -in "$1" -noout -checkend $((30 * 86400)) >/dev/null 2>&1
}

ensure_lab_pki() {
  local count=$1 i
  for ((i = 1; i <= count; i++)); do ensure_host_cert "$i"; done
}

# The CA, the engine's credentials and host i's certificate, made if missing.
ensure_host_cert() {
  local i=$1 name
  name=$(host_name "$i")
  ensure_debian_packages openssl
  "$PKI_SCRIPT" ca "$LAB_PKI" >/dev/null
  cert_usable "$LAB_PKI/engine.pem" || "$PKI_SCRIPT" engine "$LAB_PKI" engine >/dev/null
  # Both of the host's migration addresses (flat and routed, lab.d/mig-link.sh), so a layout
  # change needs no new certificate; an older one without the routed address is re-issued.
  local ips=(--ip "$(mgmt_ip "$i")" --ip "$(flat_mig_ip "$i")" --ip "$(routed_subnet "$i").2")
  if ! cert_usable "$(host_cert "$name")"; then
    "$PKI_SCRIPT" host "$LAB_PKI" "$name" "${ips[@]}" >/dev/null
  elif ! openssl x509 -in "$(host_cert "$name")" -noout -ext subjectAltName | grep -q "IP Address:$(routed_subnet "$i").2\b"; then
    "$PKI_SCRIPT" host "$LAB_PKI" "$name" "${ips[@]}" --keep-key >/dev/null
  fi
}

# The host's libvirt and QEMU files, under $dir/root/etc/pki (the host's
# /etc/pki). QEMU runs as root in the lab (qemu.conf, libvirtd.sh).
install_host_pki() {
  local i=$1 dir=$2 name
  name=$(host_name "$i")
  "$PKI_SCRIPT" libvirt --root "$dir/root" --qemu-group root \
    --ca "$LAB_PKI/ca.pem" --cert "$(host_cert "$name")" --key "$(host_key "$name")" >/dev/null
}

# `lab env`: the engine's credentials, for eval in a shell (ferryctl reads them).
print_pki_env() {
  printf 'export FERRY_CA=%q\nexport FERRY_CERT=%q\nexport FERRY_KEY=%q\n' \
    "$LAB_PKI/ca.pem" "$LAB_PKI/engine.pem" "$LAB_PKI/engine-key.pem"
}
