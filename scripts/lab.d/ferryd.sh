# shellcheck shell=bash
# ferryd in every lab host: started by `lab up` once libvirtd answers, on the
# host's management address 198.18.0.N:54321, in the host's network, mount and
# UTS namespaces (like `lab exec`), detached, logging to the host's directory.
# Its configuration is a real file, as on a hypervisor, with mutual TLS on:
# the host's certificate from the lab PKI (lab.d/pki.sh). Hosts reach each
# other's libvirtd over qemu+tls (libvirt.destination_uri's default) with the
# same certificate, from the host's /etc/pki. Its Prometheus metrics are on
# the management address too (198.18.0.N:9469), so the engine's namespace
# scrapes them.
# `lab ferryd start|restart HOST NAME=VALUE...` adds variables to the agent's
# environment for that run only (OTEL_* to turn tracing on, docs/operations.md;
# FERRY_… overrides such as FERRY_METRICS_ENABLED=false); ferryd.env in the
# host's directory lists them while it runs. A start without any runs the
# agent with its normal environment again. FERRY_LAB_NODE_FLAGS, set for the
# `lab` command itself, goes to node's command line (e.g. "--cpu-prof
# --cpu-prof-dir=/tmp/prof", which NODE_OPTIONS refuses; CONTRIBUTING.md).
# MALLOC_MMAP_THRESHOLD_ and --single-threaded-gc are what scripts/install's
# wrapper sets (why: there).

FERRYD_PORT=54321
FERRYD_METRICS_PORT=9469
FERRYD_MAIN="$(cd "$LAB_SCRIPT_DIR/../.." && pwd)/dist/agent/main.js"

ferryd_pid() {
  local pidfile
  pidfile="$(host_dir "$1")/ferryd.pid"
  [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && cat "$pidfile"
}

# The configuration as it should be, on stdout.
ferryd_config() {
  local i=$1 name dir
  name=$(host_name "$i")
  dir=$(host_dir "$name")
  cat <<YAML
# Written by scripts/lab for $name.
listen:
  address: $(mgmt_ip "$i")
  port: $FERRYD_PORT
tls:
  insecure: false
  ca_file: $LAB_PKI/ca.pem
  cert_file: $(host_cert "$name")
  key_file: $(host_key "$name")
migration:
  network: $(mig_network "$i")
state_directory: $dir/ferry
metrics:
  address: $(mgmt_ip "$i")
  port: $FERRYD_METRICS_PORT
YAML
  # FERRY_LAB_FIREWALL picks every host's firewall backend (unset: ferryd's default, auto).
  if [[ -n ${FERRY_LAB_FIREWALL:-} ]]; then
    printf 'firewall:\n  backend: %s\n' "$FERRY_LAB_FIREWALL"
  fi
}

write_ferryd_config() {
  local i=$1 dir
  dir=$(host_dir "$(host_name "$i")")
  mkdir -p "$dir/ferry"
  ferryd_config "$i" >"$dir/ferryd.yaml"
}

# Whether the running ferryd was started with the configuration as it should be now.
ferryd_config_current() {
  local i=$1
  cmp -s <(ferryd_config "$i") "$(host_dir "$(host_name "$i")")/ferryd.yaml"
}

start_ferryd() {
  local i=$1 name dir pid libvirtd
  local extra_env=("${@:2}")
  name=$(host_name "$i")
  dir=$(host_dir "$name")
  ferryd_pid "$name" >/dev/null && return 0
  [[ -f $FERRYD_MAIN ]] || die "ferryd is not built ($FERRYD_MAIN): run scripts/setup first"
  libvirtd=$(libvirtd_pid "$name") || die "$name has no libvirtd"
  ensure_host_cert "$i"
  write_ferryd_config "$i"
  [[ -f $dir/ferryd.log ]] && mv -f "$dir/ferryd.log" "$dir/ferryd.log.1"
  cp -f "$dir/libvirtd-kvm" "$dir/ferryd-kvm" 2>/dev/null || true   # it sees the /dev libvirtd sees
  if ((${#extra_env[@]} > 0)); then printf '%s\n' "${extra_env[@]}" >"$dir/ferryd.env"; else rm -f "$dir/ferryd.env"; fi
  # 9>&-: the lab lock must not live on in the daemon.
  # shellcheck disable=SC2086 # FERRY_LAB_NODE_FLAGS is a list of flags
  setsid nsenter -t "$libvirtd" -n -m -u --wd="$dir" -- \
    env FERRY_CONFIG="$dir/ferryd.yaml" MALLOC_MMAP_THRESHOLD_=131072 "${extra_env[@]}" node --single-threaded-gc ${FERRY_LAB_NODE_FLAGS:-} "$FERRYD_MAIN" >"$dir/ferryd.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$dir/ferryd.pid"
  # Ready means: gRPC listens, libvirt answered, the firewall is reconciled.
  if ! wait_until 30 grep -q '"message":"ferryd ready"' "$dir/ferryd.log"; then
    tail -n 20 "$dir/ferryd.log" >&2
    die "ferryd on $name did not become ready (log: $dir/ferryd.log)"
  fi
  log "ferryd on $name ready at $(mgmt_ip "$i"):$FERRYD_PORT"
}

stop_ferryd() {
  local name=$1 signal=$2 pid
  pid=$(ferryd_pid "$name") || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  wait_until 15 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$(host_dir "$name")/ferryd.pid"
}

# lab up: start it, or restart one that runs an older configuration.
start_ferryd_hook() {
  local i=$1 name dir
  name=$(host_name "$i")
  dir=$(host_dir "$name")
  if ferryd_pid "$name" >/dev/null && ! ferryd_config_current "$i"; then
    log "ferryd on $name runs an older configuration: restarting it"
    stop_ferryd "$name" TERM
  elif ferryd_pid "$name" >/dev/null && ! cmp -s "$dir/ferryd-kvm" "$dir/libvirtd-kvm"; then
    # It lives in the mount namespace of the libvirtd it started with: another /dev.
    log "ferryd on $name started before KVM was $(cat "$dir/libvirtd-kvm"): restarting it"
    stop_ferryd "$name" TERM
  fi
  start_ferryd "$i"
}

# lab ferryd start|stop|kill|restart HOST [NAME=VALUE...]
cmd_ferryd() {
  local usage="usage: lab ferryd start|stop|kill|restart HOST [NAME=VALUE...] (variables with start and restart only)"
  (($# >= 2)) || die "$usage"
  local action=$1 i name variable
  i=$(host_index "$2")
  name=$(host_name "$i")
  shift 2
  for variable in "$@"; do
    [[ $variable =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] ||
      die "lab ferryd: '$variable' is not NAME=VALUE (e.g. OTEL_EXPORTER_OTLP_ENDPOINT=http://$ENGINE_IP:4318)"
  done
  require_root
  case $action in
    start) start_ferryd "$i" "$@" ;;
    stop) (($# == 0)) || die "$usage"; stop_ferryd "$name" TERM ;;
    kill) (($# == 0)) || die "$usage"; stop_ferryd "$name" KILL ;;
    restart) stop_ferryd "$name" TERM; start_ferryd "$i" "$@" ;;
    *) die "$usage" ;;
  esac
}
