# shellcheck shell=bash
# Hosts are network namespaces `labN` wired to two bridges in the root namespace:
#   ferrymgmt0 (198.18.0.254/24 here, so the root namespace plays the engine)
#   ferrymig0  (no address here: the engine has no layer-3 access to migration)
# Inside each host: eth0 = management 198.18.0.N/24, eth1 = migration 198.19.0.N/24.
# Root-side veth names: flNm (management) and flNg (migration).

link_exists() { ip link show dev "$1" >/dev/null 2>&1; }

# Keep the root namespace off the migration network at every layer we control:
# no IPv6 link-local address on the bridge or its ports either.
disable_ipv6_on() { sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1" 2>/dev/null || true; }

ensure_bridge() {
  local br=$1 mac=$2
  link_exists "$br" || ip link add "$br" type bridge
  # A fixed MAC: by default a bridge takes the lowest MAC of its ports, so adding
  # a host would change the engine's MAC under the other hosts' ARP caches.
  ip link set dev "$br" address "$mac"
  # br_netfilter (loaded on this machine) would push bridged frames through the
  # root namespace's iptables, whose FORWARD policy we must not depend on or touch.
  # This is a per-bridge switch: it only affects our own bridge.
  ip link set dev "$br" type bridge nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0 2>/dev/null || true
  ip link set dev "$br" up
}

ensure_bridges() {
  ensure_bridge "$MGMT_BRIDGE" 02:fe:c6:12:00:fe
  ip -4 addr show dev "$MGMT_BRIDGE" | grep -q "inet $ENGINE_IP/" ||
    ip addr add "$ENGINE_IP/24" dev "$MGMT_BRIDGE"
  ensure_bridge "$MIG_BRIDGE" 02:fe:c6:13:00:fe
  disable_ipv6_on "$MIG_BRIDGE"
  ip -4 addr flush dev "$MIG_BRIDGE"
  ensure_guard_route
}

# Without this, traffic from the root namespace to 198.19.0.x (or to a lab host
# that does not exist) would follow the default route off the machine. An
# `unreachable` route for the whole lab range fails such packets locally; the
# connected 198.18.0.0/24 route on ferrymgmt0 is more specific and still wins.
ensure_guard_route() {
  ip route show type unreachable | grep -q "^unreachable $LAB_RANGE" ||
    ip route add unreachable "$LAB_RANGE" metric 4242
}

ensure_netns() {
  local name=$1
  [[ -e /run/netns/$name ]] || ip netns add "$name"
  ip -n "$name" link set lo up
}

# One veth pair: $root_if in the root namespace enslaved to $bridge, its peer
# named $ns_if inside host $name with address $cidr.
ensure_host_link() {
  local name=$1 root_if=$2 ns_if=$3 bridge=$4 cidr=$5
  if link_exists "$root_if" && ! ip -n "$name" link show dev "$ns_if" >/dev/null 2>&1; then
    ip link del "$root_if"        # half-made pair from an interrupted run
  fi
  if ! link_exists "$root_if"; then
    ip link add "$root_if" type veth peer name "$ns_if" netns "$name"
  fi
  ip link set dev "$root_if" master "$bridge"
  disable_ipv6_on "$root_if"
  ip link set dev "$root_if" up
  # No address given: the layout adds it (the migration link, lab.d/mig-link.sh).
  [[ -z $cidr ]] || ip -n "$name" -4 addr show dev "$ns_if" | grep -q "inet $cidr" ||
    ip -n "$name" addr add "$cidr" dev "$ns_if"
  ip -n "$name" link set dev "$ns_if" up
}

ensure_host_network() {
  local i=$1 name
  name=$(host_name "$i")
  ensure_netns "$name"
  ensure_host_link "$name" "fl${i}m" eth0 "$MGMT_BRIDGE" "$(mgmt_ip "$i")/24"
  # In the routed layout eth1's other end lives in the router (lab.d/mig-link.sh).
  if ! { mig_routed && ip -n "$ROUTER_NS" link show dev "fl${i}g" >/dev/null 2>&1; }; then
    ip -n "$ROUTER_NS" link show dev "fl${i}g" >/dev/null 2>&1 && ip -n "$ROUTER_NS" link set dev "fl${i}g" netns 1
    ensure_host_link "$name" "fl${i}g" eth1 "$MIG_BRIDGE" ""
  fi
  ensure_mig_link "$i"
}

# Removes a host's namespace and its veths (deleting one end deletes the pair).
remove_host_network() {
  local i=$1 name
  name=$(host_name "$i")
  link_exists "fl${i}m" && ip link del "fl${i}m"
  link_exists "fl${i}g" && ip link del "fl${i}g"
  link_exists "fl${i}b" && ip link del "fl${i}b"
  ip -n "$ROUTER_NS" link del "fl${i}g" 2>/dev/null || true
  [[ -e /run/netns/$name ]] && ip netns del "$name"
  return 0
}

remove_shared_network() {
  remove_router
  link_exists "$MGMT_BRIDGE" && ip link del "$MGMT_BRIDGE"
  link_exists "$MIG_BRIDGE" && ip link del "$MIG_BRIDGE"
  ip route show type unreachable | grep -q "^unreachable $LAB_RANGE" &&
    ip route del unreachable "$LAB_RANGE" metric 4242
  return 0
}
