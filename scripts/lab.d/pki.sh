# shellcheck shell=bash
# The lab's PKI, made with scripts/pki: one CA for the whole lab; a
# certificate per host (CN labN, role peer, SANs labN + management and
# migration addresses) used by ferryd, libvirtd and QEMU alike; and the
# engine's credentials for the root namespace (tests, ferryctl, the demo):
#   $LAB_PKI/ca.crt  $LAB_PKI/engine.crt  $LAB_PKI/engine.key
#   $LAB_PKI/hosts/labN.crt + .key
# Inside each host the libvirt and QEMU copies sit under /etc/libvirt/pki
# (the host's private /etc/libvirt), with the file names libvirt expects.

LAB_PKI="$LAB_DIR/pki"
PKI_SCRIPT="$(cd "$LAB_SCRIPT_DIR/.." && pwd)/pki"
# Inside a host (its own /etc/libvirt): libvirtd's and the remote driver's
# files (pkipath= in the P2P URI), and QEMU's for migration TLS.
HOST_LIBVIRT_PKI=/etc/libvirt/pki
HOST_QEMU_PKI=/etc/libvirt/pki/qemu

host_cert() { printf '%s/hosts/%s.crt' "$LAB_PKI" "$1"; }
host_key() { printf '%s/hosts/%s.key' "$LAB_PKI" "$1"; }

# A certificate is kept while it verifies against the lab CA and has more
# than 30 days left.
cert_usable() {
  [[ -s $1 ]] && openssl verify -CAfile "$LAB_PKI/ca.crt" "$1" >/dev/null 2>&1 &&
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
  cert_usable "$LAB_PKI/engine.crt" || "$PKI_SCRIPT" engine "$LAB_PKI" engine >/dev/null
  cert_usable "$(host_cert "$name")" ||
    "$PKI_SCRIPT" host "$LAB_PKI" "$name" --ip "$(mgmt_ip "$i")" --ip "$(mig_ip "$i")" >/dev/null
}

# Copies a host's certificate into its private /etc/libvirt ($dir/etc) under
# the names libvirtd (key_file, cert_file, ca_file in libvirtd.conf), the
# remote driver (pkipath: cacert.pem, clientcert.pem, clientkey.pem) and QEMU
# (ca-cert.pem, server-*.pem, client-*.pem) look for.
install_host_pki() {
  local i=$1 dir=$2 name pki qemu
  name=$(host_name "$i")
  pki="$dir/etc/pki"
  qemu="$pki/qemu"
  mkdir -p "$qemu"
  (
    umask 077
    cp -f "$LAB_PKI/ca.crt" "$pki/cacert.pem"
    cp -f "$(host_cert "$name")" "$pki/servercert.pem"
    cp -f "$(host_key "$name")" "$pki/serverkey.pem"
    cp -f "$(host_cert "$name")" "$pki/clientcert.pem"
    cp -f "$(host_key "$name")" "$pki/clientkey.pem"
    cp -f "$LAB_PKI/ca.crt" "$qemu/ca-cert.pem"
    cp -f "$(host_cert "$name")" "$qemu/server-cert.pem"
    cp -f "$(host_key "$name")" "$qemu/server-key.pem"
    cp -f "$(host_cert "$name")" "$qemu/client-cert.pem"
    cp -f "$(host_key "$name")" "$qemu/client-key.pem"
  )
  chmod 0644 "$pki/cacert.pem" "$pki"/*cert.pem "$qemu"/*cert.pem
}

# `lab env`: the engine's credentials, for eval in a shell (ferryctl reads them).
print_pki_env() {
  printf 'export FERRY_CA=%q\nexport FERRY_CERT=%q\nexport FERRY_KEY=%q\n' \
    "$LAB_PKI/ca.crt" "$LAB_PKI/engine.crt" "$LAB_PKI/engine.key"
}
