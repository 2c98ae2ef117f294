#!/bin/bash
# Runs as `ip netns exec labN unshare -mu --propagation private host-boot.sh labN DIR`:
# already inside the host's network namespace and in fresh, private mount and UTS
# namespaces. Gives the host its own identity and libvirt directories, then
# becomes libvirtd (exec, so the PID the lab records is libvirtd's and `lab exec`
# can nsenter into exactly these namespaces).
set -euo pipefail

name=$1
dir=$2

hostname "$name"

# Private copies of every directory libvirtd keeps state in. /run especially:
# the unix socket /run/libvirt/libvirt-sock and the pid file then cannot collide
# with a system libvirtd or with the other lab hosts. The mount points exist in
# the root namespace already (the filesystem is shared, only mounts are private).
bind_private() {
  local src=$1 target=$2
  mkdir -p "$src" "$target"
  mount --bind "$src" "$target"
}
bind_private "$dir/run"   /run
bind_private "$dir/lib"   /var/lib/libvirt
bind_private "$dir/etc"   /etc/libvirt
bind_private "$dir/log"   /var/log/libvirt
bind_private "$dir/cache" /var/cache/libvirt
mkdir -p /run/lock /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/cache/libvirt/qemu

# Name resolution stays inside the lab: every labN resolves to its management
# address from a private /etc/hosts, and an empty resolv.conf means no DNS query
# ever leaves (libvirt looks its own hostname up at every connection).
bind_file() { mount --bind "$1" "$(readlink -f "$2")"; }
bind_file "$dir/hosts" /etc/hosts
bind_file "$dir/resolv.conf" /etc/resolv.conf

exec libvirtd --listen --pid-file /run/libvirtd.pid
