# shellcheck shell=bash
# The migration network's link inside each host, built on eth1 (a veth whose
# other end is a port of ferrymig0), for oVirt's Migration Network test plan
# ("Test for: regular network, bridgeless network, VLAN, bond", MTU 9000):
#   veth    198.19.0.N on eth1 itself (the default)
#   bridge  br-mig in the host, eth1 its port, the address on br-mig
#   vlan    eth1.100 (802.1Q tag 100), the address on it         (needs 8021q)
#   bond    bond-mig, active-backup over eth1 and eth2 (a second veth into
#           ferrymig0), the address on the bond                   (needs bonding)
#   vxlan   vx-mig (VNI 42, UDP 4789) over eth1, whose own address is the
#           underlay 198.19.254.N/24; the address on vx-mig. A stacked device
#           with its own encapsulation (50 bytes), standing in for a tagged
#           network where the kernel has no 8021q.
# The MTU (--mig-mtu) is that of the device carrying the address; the devices
# under it get what they need to carry it (VXLAN: 50 more).
# --mig-routed: each host's migration network is its own subnet, 198.19.(10+N).0/24
# (host .2, router .1), and a router namespace labr joins them (eth1's other end
# moves from ferrymig0 into labr); every host routes 198.19.0.0/16 through it,
# so a destination's migration address is never on the source's own subnet
# (the feature page's known limitation: hosts on different subnets). veth and
# bridge only. --mig-flat: back to one shared subnet.
# The choice is kept in $LAB_DIR/mig-link ("TYPE MTU LAYOUT"), so a later `up`
# without the options keeps it, as it keeps --no-kvm.

MIG_LINK_FILE="$LAB_DIR/mig-link"
MIG_LINK_TYPES=(veth bridge vlan bond vxlan)
UNDERLAY_PREFIX=198.19.254
VXLAN_OVERHEAD=50
ROUTER_NS=labr
ROUTED_SUPERNET=198.19.0.0/16

mig_link_wanted() {
  local type mtu layout
  [[ -f $MIG_LINK_FILE ]] && read -r type mtu layout <"$MIG_LINK_FILE"
  echo "${type:-veth} ${mtu:-1500} ${layout:-flat}"
}
mig_routed() { [[ $(mig_link_wanted) == *' routed' ]]; }
routed_subnet() { printf '198.19.%d' $((10 + $1)); }

# The kernel's answer, not a guess: creates a throwaway device of that type in
# a scratch namespace ("Unknown device type" where the module is missing;
# over a veth, since this kernel has no dummy devices either).
link_type_supported() {
  local type=$1 ns=ferry-lab-probe$$ ok=1
  case $type in
    veth | bridge) return 0 ;;
  esac
  ip netns add "$ns" || return 1
  case $type in
    vlan) ip -n "$ns" link add a0 type veth peer name a1 && ip -n "$ns" link add link a0 name a0.100 type vlan id 100 && ok=0 ;;
    bond) ip -n "$ns" link add b0 type bond mode active-backup && ok=0 ;;
    vxlan) ip -n "$ns" link add a0 type veth peer name a1 && ip -n "$ns" link add vx0 type vxlan id 42 dev a0 dstport 4789 && ok=0 ;;
  esac 2>/dev/null
  ip netns del "$ns"
  return "$ok"
}

cmd_links() {
  local type
  for type in "${MIG_LINK_TYPES[@]}"; do
    if link_type_supported "$type"; then printf '%-7s supported\n' "$type"; else printf '%-7s NOT supported by this kernel\n' "$type"; fi
  done
  printf 'in use: %s\n' "$(mig_link_wanted)"
  printf 'routed (--mig-routed): with veth and bridge\n'
}

# Checks and records `up`'s --mig-link/--mig-mtu/--mig-routed (any may be empty: keep that part).
set_mig_link_wanted() {
  local type=$1 mtu=$2 layout=$3 current_type current_mtu current_layout
  read -r current_type current_mtu current_layout <<<"$(mig_link_wanted)"
  type=${type:-$current_type}
  mtu=${mtu:-$current_mtu}
  layout=${layout:-$current_layout}
  [[ $layout == flat || $type == veth || $type == bridge ]] || die "--mig-routed works with --mig-link veth or bridge"
  [[ " ${MIG_LINK_TYPES[*]} " == *" $type "* ]] || die "--mig-link must be one of: ${MIG_LINK_TYPES[*]}"
  [[ $mtu =~ ^[0-9]+$ ]] && ((mtu >= 1280 && mtu <= 9000)) || die "--mig-mtu must be 1280..9000"
  link_type_supported "$type" || die "--mig-link $type: this kernel has no $type devices (scripts/lab links lists what it has)"
  mkdir -p "$LAB_DIR"
  echo "$type $mtu $layout" >"$MIG_LINK_FILE"
}

# The device that carries host i's migration address in the layout in force.
mig_device() {
  local type
  read -r type _ <<<"$(mig_link_wanted)"
  case $type in
    veth) echo eth1 ;;
    bridge) echo br-mig ;;
    vlan) echo eth1.100 ;;
    bond) echo bond-mig ;;
    vxlan) echo vx-mig ;;
  esac
}

# Back to a bare eth1: the stacked devices removed, eth2's pair too, no address.
strip_mig_link() {
  local i=$1 name dev
  name=$(host_name "$i")
  for dev in br-mig eth1.100 bond-mig vx-mig; do
    ip -n "$name" link show dev "$dev" >/dev/null 2>&1 && ip -n "$name" link del "$dev"
  done
  link_exists "fl${i}b" && ip link del "fl${i}b"
  ip -n "$name" link set dev eth1 nomaster 2>/dev/null || true
  ip -n "$name" -4 addr flush dev eth1
  ip -n "$name" route del "$ROUTED_SUPERNET" 2>/dev/null || true
  return 0
}

# The router joining the routed subnets (--mig-routed), or none.
ensure_router() {
  [[ -e /run/netns/$ROUTER_NS ]] || ip netns add "$ROUTER_NS"
  ip -n "$ROUTER_NS" link set lo up
  ip netns exec "$ROUTER_NS" sysctl -qw net.ipv4.ip_forward=1
}
remove_router() {
  [[ -e /run/netns/$ROUTER_NS ]] && ip netns del "$ROUTER_NS"
  return 0
}

# eth1's other end, fl{i}g: a port of ferrymig0 (flat), or host i's link in the router (routed).
ensure_mig_port() {
  local i=$1 port="fl${1}g" mtu=$2
  if mig_routed; then
    ensure_router
    link_exists "$port" && ip link set dev "$port" nomaster && ip link set dev "$port" netns "$ROUTER_NS"
    ip -n "$ROUTER_NS" link set dev "$port" mtu "$mtu" up
    ip -n "$ROUTER_NS" -4 addr show dev "$port" | grep -q "inet $(routed_subnet "$i").1/" ||
      ip -n "$ROUTER_NS" addr add "$(routed_subnet "$i").1/24" dev "$port"
  else
    if ip -n "$ROUTER_NS" link show dev "$port" >/dev/null 2>&1; then
      ip -n "$ROUTER_NS" link set dev "$port" netns 1
    fi
    ip link set dev "$port" mtu "$mtu"
    ip link set dev "$port" master "$MIG_BRIDGE"
    disable_ipv6_on "$port"
    ip link set dev "$port" up
  fi
}

# The shared bridge carries the largest frame a host sends (its MTU is otherwise the smallest port's).
ensure_mig_bridge_mtu() {
  local type mtu
  read -r type mtu _ <<<"$(mig_link_wanted)"
  [[ $type == vxlan ]] && mtu=$((mtu + VXLAN_OVERHEAD))
  ip link set dev "$MIG_BRIDGE" mtu "$mtu"
}

# Builds host i's migration link as recorded, from scratch when it differs.
ensure_mig_link() {
  local i=$1 name type mtu layout dev cidr outer j
  name=$(host_name "$i")
  read -r type mtu layout <<<"$(mig_link_wanted)"
  dev=$(mig_device)
  cidr="$(mig_ip "$i")/24" # mig_ip follows the layout (common.sh)
  outer=$mtu
  [[ $type == vxlan ]] && outer=$((mtu + VXLAN_OVERHEAD))
  if ip -n "$name" -4 addr show dev "$dev" 2>/dev/null | grep -q "inet $cidr" &&
    ip -n "$name" -o link show dev "$dev" | grep -q " mtu $mtu " &&
    { [[ $layout == flat ]] || ip -n "$name" route show "$ROUTED_SUPERNET" | grep -q via; }; then
    ensure_mig_port "$i" "$outer"
    return 0 # already this layout
  fi
  log "$name: migration link $type, MTU $mtu, $layout, address $cidr on $dev"
  strip_mig_link "$i"
  ensure_mig_port "$i" "$outer"
  ip -n "$name" link set dev eth1 mtu "$outer" up
  case $type in
    veth) ;;
    bridge)
      ip -n "$name" link add br-mig type bridge
      ip -n "$name" link set dev br-mig mtu "$mtu"
      ip -n "$name" link set dev eth1 master br-mig
      ;;
    vlan) ip -n "$name" link add link eth1 name eth1.100 mtu "$mtu" type vlan id 100 ;;
    bond)
      ip link add "fl${i}b" mtu "$outer" type veth peer name eth2 netns "$name"
      ip link set dev "fl${i}b" master "$MIG_BRIDGE" up
      disable_ipv6_on "fl${i}b"
      ip -n "$name" link add bond-mig type bond mode active-backup miimon 100
      ip -n "$name" link set dev eth1 down
      ip -n "$name" link set dev eth1 master bond-mig
      ip -n "$name" link set dev eth2 master bond-mig
      ip -n "$name" link set dev bond-mig mtu "$mtu"
      ip -n "$name" link set dev eth1 up
      ip -n "$name" link set dev eth2 up
      ;;
    vxlan)
      ip -n "$name" addr add "$UNDERLAY_PREFIX.$i/24" dev eth1
      ip -n "$name" link add vx-mig mtu "$mtu" type vxlan id 42 dev eth1 local "$UNDERLAY_PREFIX.$i" dstport 4789
      # Floods go to every other host (no multicast on the lab's bridge); unicast learns its VTEP.
      for j in $(seq 1 "$LAB_MAX_HOSTS"); do
        ((j == i)) || bridge -n "$name" fdb append 00:00:00:00:00:00 dev vx-mig dst "$UNDERLAY_PREFIX.$j"
      done
      ;;
  esac
  ip -n "$name" addr add "$cidr" dev "$dev"
  ip -n "$name" link set dev "$dev" up
  [[ $layout == flat ]] || ip -n "$name" route replace "$ROUTED_SUPERNET" via "$(routed_subnet "$i").1" dev "$dev"
}
