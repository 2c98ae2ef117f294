#!/usr/bin/env bash
# Captures the sysfs attributes agent/network/link-topology.ts reads from real
# devices, made in a private network namespace (never the host's):
#   unshare --net --mount test/support/sysfs-fixtures/capture.sh OUTDIR
# Kernel modules it needs: veth, bridge, vxlan (bonding and 8021q are not
# used: see README.md for the trees built from the kernel's ABI documents).
set -euo pipefail
out=${1:?usage: capture.sh OUTDIR}
mount -t sysfs sysfs /sys

# br-mig: a bridge with one veth port whose peer is up (forwarding).
ip link add br-mig type bridge
ip link add vm0 type veth peer name vm0p
ip link set vm0 master br-mig
ip link set vm0p up && ip link set vm0 up && ip link set br-mig up
# br-empty: a bridge without ports (the kernel says operstate unknown, carrier 1).
ip link add br-empty type bridge && ip link set br-empty up
# vx0: a VXLAN over u0, a veth whose peer is down (vx0 still says unknown, carrier 1).
ip link add u0 type veth peer name u0p
ip link set u0 up
ip addr add 10.0.0.1/24 dev u0
ip link add vx0 type vxlan id 42 dev u0 local 10.0.0.1 remote 10.0.0.2 dstport 4789
ip link set vx0 up
# veth-mig: a plain veth, its peer up.
ip link add veth-mig type veth peer name veth-migp
ip link set veth-migp up && ip link set veth-mig up
sleep 2 # the bridge port passes to forwarding, carriers settle

copy_device() {
  local name=$1 src=/sys/class/net/$1 dst=$out/$1 attr entry
  mkdir -p "$dst"
  for attr in uevent operstate carrier mtu ifindex iflink flags type; do
    cat "$src/$attr" >"$dst/$attr" 2>/dev/null || rm -f "$dst/$attr" # carrier: EINVAL while administratively down
  done
  mkdir -p "$dst/statistics" && cat "$src/statistics/tx_bytes" >"$dst/statistics/tx_bytes"
  for entry in "$src"/lower_* "$src"/upper_* "$src"/master; do
    [[ -L $entry ]] && ln -s "../$(basename "$(readlink "$entry")")" "$dst/$(basename "$entry")"
  done
  if [[ -d $src/brport ]]; then mkdir -p "$dst/brport" && cat "$src/brport/state" >"$dst/brport/state"; fi
  if [[ -d $src/bridge ]]; then mkdir -p "$dst/bridge" && cat "$src/bridge/stp_state" >"$dst/bridge/stp_state"; fi
  if [[ -d $src/brif ]]; then
    mkdir -p "$dst/brif"
    for entry in "$src"/brif/*; do [[ -e $entry ]] && ln -s "../../$(basename "$entry")/brport" "$dst/brif/$(basename "$entry")"; done
  fi
  return 0
}
for dev in br-mig vm0 vm0p br-empty vx0 u0 u0p veth-mig veth-migp; do copy_device "$dev"; done
