# shellcheck shell=bash
# One libvirtd per lab host, each in the host's network namespace plus its own
# mount and UTS namespaces (see host-boot.sh). The system libvirtd, if any, is
# never started, stopped or contacted.

LAB_SCRIPT_DIR=${LAB_SCRIPT_DIR:?}
LIBVIRT_TLS_PORT=16514
# Bump when the configuration written below changes: `lab up` then restarts
# the daemons that run an older one (their guests keep running).
LIBVIRT_CONFIG_GENERATION=3

# The QEMU driver resolves its built-in default user before it reads qemu.conf,
# so this account must exist even though qemu.conf says root.
ensure_qemu_user() {
  id libvirt-qemu >/dev/null 2>&1 ||
    useradd -r -M -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
}

# A host keeps its UUID across restarts; it must be a real random UUID (libvirt
# rejects degenerate ones) and differ between hosts, or libvirt refuses to
# migrate "to the same host".
host_uuid_of() {
  local dir=$1
  [[ -s $dir/host-uuid ]] || cat /proc/sys/kernel/random/uuid >"$dir/host-uuid"
  cat "$dir/host-uuid"
}

write_libvirt_config() {
  local i=$1 dir=$2 uuid=$3 n
  mkdir -p "$dir/etc" "$dir/run" "$dir/lib" "$dir/log" "$dir/cache"
  install_host_pki "$i" "$dir"
  {
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
    for ((n = 1; n <= LAB_MAX_HOSTS; n++)); do printf '%s\t%s\n' "$(mgmt_ip "$n")" "$(host_name "$n")"; done
  } >"$dir/hosts"
  : >"$dir/resolv.conf"
  cat >"$dir/etc/libvirtd.conf" <<CONF
# Written by scripts/lab for lab host $(host_name "$i").
# TLS (16514) is what hosts use between themselves (P2P migration): the lab
# CA's host certificates only (OU=hosts), as in production, from libvirt's
# default files in /etc/pki (lab.d/pki.sh). TCP without auth stays for the
# engine's tests in the root namespace: lab only.
listen_tls = 1
listen_tcp = 1
listen_addr = "$(mgmt_ip "$i")"
tcp_port = "$LIBVIRT_TCP_PORT"
tls_port = "$LIBVIRT_TLS_PORT"
tls_allowed_dn_list = ["*,OU=hosts,*"]
auth_tls = "none"
auth_tcp = "none"
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_group = "root"
host_uuid = "$uuid"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
  cat >"$dir/etc/qemu.conf" <<CONF
# Written by scripts/lab. QEMU runs as root with no per-VM namespaces, cgroups
# or security labels: the lab host is itself a namespace inside a container.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "file"
# Migration TLS (VIR_MIGRATE_TLS): QEMU's own x509 files, from the lab CA,
# in the default directory /etc/pki/qemu; the destination QEMU checks the
# source's client certificate too.
default_tls_x509_verify = 1
migrate_tls_x509_verify = 1
CONF
  echo "$LIBVIRT_CONFIG_GENERATION" >"$dir/libvirt-config-generation"
}

# KVM in a host: "shown" (the machine's /dev/kvm, if it has one) or "hidden"
# (`lab up --no-kvm`: host-boot.sh removes /dev/kvm from the host's mount
# namespace). The wish is a file in the host's directory, so restarts keep it.
kvm_wanted() { if [[ -e $(host_dir "$(host_name "$1")")/no-kvm ]]; then echo hidden; else echo shown; fi; }
set_kvm_wanted() {
  local i=$1 want=$2 marker
  marker=$(host_dir "$(host_name "$i")")/no-kvm
  if [[ $want == hidden ]]; then : >"$marker"; else rm -f "$marker"; fi
}

# PID of the host's libvirtd if it is alive and really in that host's netns.
libvirtd_pid() {
  local name=$1 dir pid
  dir=$(host_dir "$name")
  [[ -s $dir/libvirtd.pid ]] || return 1
  pid=$(<"$dir/libvirtd.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == libvirtd ]] || return 1
  [[ -e /run/netns/$name ]] || return 1
  [[ $(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null) == $(stat -L -c %i "/run/netns/$name") ]] || return 1
  printf '%s\n' "$pid"
}

libvirtd_answers() {
  local i=$1
  timeout 10 virsh -q -c "$(libvirt_uri "$i")" hostname >/dev/null 2>&1
}

# True when no guest of the host has a job (a migration, a save) under way.
libvirtd_idle() {
  local i=$1 dom
  while read -r dom; do
    [[ -n $dom ]] || continue
    timeout 10 virsh -q -c "$(libvirt_uri "$i")" domjobinfo "$dom" 2>/dev/null | grep -Eq '^Job type: +None' || return 1
  done < <(timeout 10 virsh -q -c "$(libvirt_uri "$i")" list --name 2>/dev/null)
}

# Starts the host's libvirtd in the background unless it already runs with
# the current configuration; one running an older one is restarted.
start_libvirtd() {
  local i=$1 name dir pid
  name=$(host_name "$i")
  dir=$(host_dir "$name")
  if pid=$(libvirtd_pid "$name"); then
    if [[ $(cat "$dir/libvirt-config-generation" 2>/dev/null) == "$LIBVIRT_CONFIG_GENERATION" ]]; then
      [[ $(cat "$dir/libvirtd-kvm" 2>/dev/null || echo shown) == "$(kvm_wanted "$i")" ]] && return 0
      log "libvirtd of $name must see KVM $(kvm_wanted "$i"): restarting it (its guests keep running)"
    else
      log "libvirtd of $name runs an older configuration: restarting it (its guests keep running)"
    fi
    # Not in the middle of someone's migration: that job would fail.
    wait_until 600 libvirtd_idle "$i" || log "libvirtd of $name still has a job running after 10 min"
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 30 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  write_libvirt_config "$i" "$dir" "$(host_uuid_of "$dir")"
  rm -f "$dir/libvirtd.pid" "$dir/run/libvirtd.pid"
  kvm_wanted "$i" >"$dir/libvirtd-kvm"      # what host-boot.sh will make of /dev/kvm
  log "starting libvirtd for $name"
  # setsid: survive the caller's terminal/process group (a test runner's Ctrl-C).
  # All three std streams away from the caller, or whoever spawned `lab up`
  # would wait for the daemon to close its pipes; and not our lock fds (8, 9),
  # or the daemon would hold the lab lock for its whole life.
  setsid ip netns exec "$name" unshare -mu --propagation private \
    "$LAB_SCRIPT_DIR/host-boot.sh" "$name" "$dir" \
    </dev/null >>"$dir/libvirtd.out" 2>&1 8>&- 9>&- &
}

# Waits for the daemon to answer on TCP, then records its PID for `lab exec`.
wait_libvirtd() {
  local i=$1 name dir
  name=$(host_name "$i")
  dir=$(host_dir "$name")
  if ! wait_until 90 libvirtd_answers "$i"; then
    tail -n 20 "$dir/libvirtd.out" "$dir/log/libvirtd.log" >&2 2>/dev/null || true
    die "libvirtd of $name did not answer on $(libvirt_uri "$i") within 90 s"
  fi
  wait_until 10 test -s "$dir/run/libvirtd.pid" || die "libvirtd of $name wrote no pid file"
  cp "$dir/run/libvirtd.pid" "$dir/libvirtd.pid"
  libvirtd_pid "$name" >/dev/null || die "libvirtd of $name is not running in netns $name"
}

# Destroys the host's guests, then stops libvirtd and anything else still
# running in the host's network namespace (QEMU, processes started by `lab exec`).
stop_host_processes() {
  local i=$1 name dir pid dom pids
  name=$(host_name "$i")
  dir=$(host_dir "$name")
  if libvirtd_pid "$name" >/dev/null && libvirtd_answers "$i"; then
    while read -r dom; do
      [[ -n $dom ]] || continue
      timeout 30 virsh -q -c "$(libvirt_uri "$i")" destroy "$dom" >/dev/null 2>&1 || true
    done < <(timeout 10 virsh -q -c "$(libvirt_uri "$i")" list --name 2>/dev/null)
  fi
  if pid=$(libvirtd_pid "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 15 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  # Only processes inside our own namespace: nothing of anyone else's.
  if [[ -e /run/netns/$name ]]; then
    pids=$(ip netns pids "$name" 2>/dev/null || true)
    if [[ -n $pids ]]; then
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null || true
      sleep 1
      pids=$(ip netns pids "$name" 2>/dev/null || true)
      # shellcheck disable=SC2086
      [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
    fi
  fi
  rm -f "$dir/libvirtd.pid"
}

# Stops the host's libvirtd alone: its guests keep running (QEMU is not its
# child), and so does ferryd, which reconnects when the daemon is back.
# TERM first, as systemd would: with a migration running, libvirtd waits for
# it up to its own 30 s shutdown timeout, so KILL only after 45 s.
stop_libvirtd() {
  local i=$1 signal=$2 name pid
  name=$(host_name "$i")
  pid=$(libvirtd_pid "$name") || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  if ! wait_until 45 bash -c "! kill -0 $pid"; then
    log "libvirtd of $name did not stop within 45 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait_until 10 bash -c "! kill -0 $pid" || die "libvirtd of $name (pid $pid) does not exit"
  rm -f "$(host_dir "$name")/libvirtd.pid"
}

# lab libvirtd start|stop|kill|restart HOST (the fault tests restart it mid-migration).
# A restarted daemon gets fresh mount and UTS namespaces over the same state
# directories, so it finds its guests' status and monitor sockets as before.
cmd_libvirtd() {
  (($# == 2)) || die "usage: lab libvirtd start|stop|kill|restart HOST"
  local action=$1 i
  i=$(host_index "$2")
  require_root
  take_lab_lock
  case $action in
    start) start_libvirtd "$i"; wait_libvirtd "$i" ;;
    stop) stop_libvirtd "$i" TERM ;;
    kill) stop_libvirtd "$i" KILL ;;
    restart) stop_libvirtd "$i" TERM; start_libvirtd "$i"; wait_libvirtd "$i" ;;
    *) die "usage: lab libvirtd start|stop|kill|restart HOST" ;;
  esac
  # lab.json records the daemon's PID.
  [[ $action == stop || $action == kill ]] || write_lab_json "$(existing_host_indices | tail -n1)"
}
