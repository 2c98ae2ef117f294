# shellcheck shell=bash
# Shared constants and small helpers for scripts/lab. Sourced, never executed.

# Where the lab keeps everything it creates. Not under /var/lib/libvirt (that path
# is overmounted inside every host), so guest images here are visible to all hosts
# at the same path, which live migration requires.
LAB_DIR="${FERRY_LAB_DIR:-/var/lib/ferry-lab}"
LAB_IMAGES="$LAB_DIR/images"
LAB_JSON="$LAB_DIR/lab.json"
LAB_MAX_HOSTS=4
LAB_DEFAULT_HOSTS=2

# Networks: 198.18.0.0/15 is the benchmarking range (RFC 2544), never routed on
# the Internet. Management = 198.18.0.N/24, migration = 198.19.0.N/24.
MGMT_BRIDGE=ferrymgmt0
MIG_BRIDGE=ferrymig0
MGMT_PREFIX=198.18.0
MIG_PREFIX=198.19.0
ENGINE_IP=198.18.0.254          # the root namespace's address: it plays the engine
LAB_RANGE=198.18.0.0/15
LIBVIRT_TCP_PORT=16509

log()  { printf 'lab: %s\n' "$*" >&2; }
die()  { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

host_name()    { printf 'lab%d' "$1"; }
host_dir()     { printf '%s/%s' "$LAB_DIR" "$1"; }
host_index()   { local n=${1#lab}; [[ $n =~ ^[1-9][0-9]*$ ]] || die "not a lab host: $1"; printf '%d' "$n"; }
mgmt_ip()      { printf '%s.%d' "$MGMT_PREFIX" "$1"; }
# Host i's migration address: on the shared 198.19.0.0/24, or in its own subnet
# when the lab is routed (lab.d/mig-link.sh, --mig-routed).
flat_mig_ip()  { printf '%s.%d' "$MIG_PREFIX" "$1"; }
mig_ip()       { if mig_routed; then printf '%s.2' "$(routed_subnet "$1")"; else flat_mig_ip "$1"; fi; }
mig_network()  { if mig_routed; then printf '%s.0/24' "$(routed_subnet "$1")"; else printf '%s.0/24' "$MIG_PREFIX"; fi; }
libvirt_uri()  { printf 'qemu+tcp://%s/system' "$(mgmt_ip "$1")"; }

require_root() { [[ $EUID -eq 0 ]] || die "must run as root"; }

# Serialise commands that change the lab: several engineers' test runs may call
# `lab up` at the same moment. The lock is held by a `flock -o` process that
# re-runs this script as its child: -o keeps the lock's descriptor out of the
# script, so the daemons it starts (libvirtd, ferryd, ...) can never inherit it
# and keep the lab locked long after the script has exited.
# Needs LAB_SELF and LAB_ARGV (set by scripts/lab).
take_lab_lock() {
  [[ ${LAB_HAVE_LOCK:-} == 1 ]] && return 0
  mkdir -p "$LAB_DIR"
  FERRY_LAB_LOCK_HELD=$LAB_DIR exec flock -o "$LAB_DIR/.lab.lock" "$LAB_SELF" "${LAB_ARGV[@]}"
}

# Indices of the hosts that exist now (their network namespace is present).
existing_host_indices() {
  local ns
  for ns in /run/netns/lab*; do
    [[ -e $ns ]] || continue
    ns=${ns##*/lab}
    [[ $ns =~ ^[1-9][0-9]*$ ]] && printf '%d\n' "$ns"
  done | sort -n
}

# Install Debian packages the lab needs if `scripts/setup` did not (it should).
ensure_debian_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing missing Debian packages: ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
}

# Poll a command until it succeeds or the deadline (seconds) passes.
wait_until() {
  local timeout=$1; shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
