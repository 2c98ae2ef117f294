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
# libvirt's and QEMU's TLS files where they are on a hypervisor (lab.d/pki.sh).
bind_private "$dir/root/etc/pki" /etc/pki
mkdir -p /run/lock /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/cache/libvirt/qemu

# A host brought up with `lab up --no-kvm` has no /dev/kvm at all: its libvirtd
# offers only TCG (domain type 'qemu') and ferryd warns, exactly as on a machine
# without KVM, so both paths are tested on any machine and a lab can mix KVM and
# TCG-only hosts. A devtmpfs node cannot be removed in one mount namespace only,
# so /dev becomes a tmpfs holding bind mounts of every other entry. ptmx is the
# devpts one (pts/ptmx), as in containers: a bind-mounted /dev/ptmx would look
# for its pts instance next to the original node and fail.
hide_kvm() {
  local stage=$dir/dev entry name
  [[ -e /dev/kvm ]] || return 0
  mkdir -p "$stage"
  mount -t tmpfs -o mode=0755,nosuid lab-dev "$stage"
  for entry in /dev/* /dev/.[!.]*; do
    [[ -e $entry || -L $entry ]] || continue
    name=${entry##*/}
    case $name in
      kvm) continue ;;
      ptmx) ln -s pts/ptmx "$stage/ptmx"; continue ;;
    esac
    if [[ -L $entry ]]; then cp -P "$entry" "$stage/$name"
    elif [[ -d $entry ]]; then mkdir "$stage/$name"; mount --rbind "$entry" "$stage/$name"
    else : >"$stage/$name"; mount --bind "$entry" "$stage/$name"
    fi
  done
  mount --move "$stage" /dev
}
if [[ -e $dir/no-kvm ]]; then hide_kvm; fi

# Name resolution stays inside the lab: every labN resolves to its management
# address from a private /etc/hosts, and an empty resolv.conf means no DNS query
# ever leaves (libvirt looks its own hostname up at every connection).
bind_file() { mount --bind "$1" "$(readlink -f "$2")"; }
bind_file "$dir/hosts" /etc/hosts
bind_file "$dir/resolv.conf" /etc/resolv.conf

exec libvirtd --listen --pid-file /run/libvirtd.pid
