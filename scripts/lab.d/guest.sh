# shellcheck shell=bash
# Lab guests. Two kinds:
#  - dirty rate 0: a disk-less guest (SeaBIOS only) under KVM where it works;
#    cheap to start and to migrate, enough for smoke tests.
#  - dirty rate > 0: Debian's kernel + a tiny initramfs running ferry-dirtier,
#    always under TCG (Linux hangs at early boot under this machine's nested KVM).
# Everything a guest references lives at the same path on every host (images
# under $LAB_IMAGES, console under each host's own /var/log/libvirt) so guests
# migrate between lab hosts.
# --disk MiB adds a local qcow2 disk (vda) at /var/lib/libvirt/images/NAME.qcow2:
# the same path on every host, but each host's own file (host-boot.sh mounts the
# host's lib/ over /var/lib/libvirt), i.e. non-shared storage that a migration
# must copy (copy_storage). Its first half holds the byte 0x5a, to check a copy.

GUEST_SRC_DIR="$LAB_SCRIPT_DIR/guest"
QEMU_EMULATOR=/usr/bin/qemu-system-x86_64

virsh_host() { local i=$1; shift; virsh -q -c "$(libvirt_uri "$i")" "$@"; }

host_has_kvm() { virsh_host "$1" capabilities | grep -q "<domain type='kvm'"; }

# The real kernel package behind the linux-image-amd64 metapackage, e.g.
# linux-image-6.1.0-56-amd64.
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

# Prints the path of a cached Debian kernel, fetching it on first use. We only
# download and unpack the .deb: installing it would run slow initramfs hooks.
ensure_guest_kernel() {
  local pkg version vmlinuz tmp deb
  pkg=$(kernel_package)
  [[ -n $pkg ]] || die "cannot resolve the kernel package behind linux-image-amd64 (apt-get update?)"
  version=${pkg#linux-image-}
  vmlinuz="$LAB_IMAGES/vmlinuz-$version"
  if [[ ! -s $vmlinuz ]]; then
    log "fetching guest kernel $pkg"
    tmp=$(mktemp -d "$LAB_IMAGES/.kernel.XXXXXX")
    if ! (cd "$tmp" && apt-get download -o APT::Sandbox::User=root "$pkg" >&2); then
      rm -rf "$tmp"
      # Offline: the same kernel, if this machine happens to boot it, will do.
      [[ -s /boot/vmlinuz-$version ]] || die "apt-get download $pkg failed"
      log "apt-get download failed; using /boot/vmlinuz-$version instead"
      cp "/boot/vmlinuz-$version" "$vmlinuz.tmp" && mv "$vmlinuz.tmp" "$vmlinuz"
      printf '%s\n' "$vmlinuz"
      return 0
    fi
    deb=$(ls "$tmp"/*.deb)
    # Unpack only boot/ of the package (the modules are ~400 MB we do not need).
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
    mv "$tmp"/boot/vmlinuz-* "$vmlinuz"
    rm -rf "$tmp"
  fi
  printf '%s\n' "$vmlinuz"
}

# Prints the path of the guest initramfs, building it when its inputs changed.
# The file name carries a hash of the inputs, so a rebuild never rewrites a file
# a running (or migrating) guest was started from.
ensure_guest_initrd() {
  local hash initrd stage
  hash=$(cat "$GUEST_SRC_DIR/init" "$GUEST_SRC_DIR/dirtier.c" \
             <(dpkg-query -W -f='${Version}' busybox-static) \
             <(declare -f build_guest_initrd) | sha256sum | cut -c1-16)
  initrd="$LAB_IMAGES/ferry-guest-$hash.cpio.gz"
  if [[ ! -s $initrd ]]; then
    log "building guest initramfs $initrd"
    stage=$(mktemp -d "$LAB_IMAGES/.initrd.XXXXXX")
    build_guest_initrd "$stage" "$initrd.tmp" || { rm -rf "$stage" "$initrd.tmp"; die "initramfs build failed"; }
    mv "$initrd.tmp" "$initrd"
    rm -rf "$stage"
  fi
  printf '%s\n' "$initrd"
}

build_guest_initrd() {
  local stage=$1 out=$2
  mkdir -p "$stage"/{bin,dev,proc,sys,tmp}
  cp /bin/busybox "$stage/bin/busybox"
  gcc -static -O2 -Wall -Wextra -o "$stage/bin/ferry-dirtier" "$GUEST_SRC_DIR/dirtier.c" >&2
  install -m 0755 "$GUEST_SRC_DIR/init" "$stage/init"
  # The kernel opens /dev/console for init's stdio before anything is mounted.
  mknod -m 600 "$stage/dev/console" c 5 1
  (cd "$stage" && find . -print0 | LC_ALL=C sort -z |
     cpio --null -o -H newc --owner 0:0 --quiet) | gzip -9 >"$out"
}

ensure_guest_images() {
  ensure_debian_packages busybox-static cpio gcc libc6-dev
  mkdir -p "$LAB_IMAGES"
  exec 8>"$LAB_IMAGES/.lock"
  flock 8                           # concurrent `vm create`s build once
  GUEST_KERNEL=$(ensure_guest_kernel)
  GUEST_INITRD=$(ensure_guest_initrd)
  exec 8>&-
}

# A guest's disk image: the path inside its host, and the same file from here.
GUEST_DISK_DIR=/var/lib/libvirt/images
guest_disk_path() { printf '%s/%s.qcow2\n' "$GUEST_DISK_DIR" "$1"; }
guest_disk_host_path() { printf '%s/lib/images/%s.qcow2\n' "$(host_dir "$(host_name "$1")")" "$2"; }

# Creates the qcow2 of guest NAME on host I (MiB), half of it filled with 0x5a.
create_guest_disk() {
  local i=$1 name=$2 mib=$3 file
  ensure_debian_packages qemu-utils
  file=$(guest_disk_host_path "$i" "$name")
  mkdir -p "$(dirname "$file")"
  rm -f "$file"
  qemu-img create -q -f qcow2 "$file" "${mib}M"
  qemu-io -f qcow2 -c "write -P 0x5a 0 $((mib / 2))M" "$file" >/dev/null
}

# Domain XML on stdout. Arguments: name type mem_mib dirty_mbps [disk_mib].
guest_domain_xml() {
  local name=$1 type=$2 mem=$3 dirty=$4 disk=${5:-0} os_boot disk_xml=""
  if ((disk > 0)); then
    disk_xml="<disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$(guest_disk_path "$name")'/>
      <target dev='vda' bus='virtio'/>
    </disk>"
  fi
  if ((dirty > 0)); then
    # Dirty half of the guest's RAM: kernel and initramfs need well under the other half.
    # No panic=: a guest that oopses stays halted with the oops on its console.
    # pti=on works around a QEMU TCG bug: after a migration dirty-bitmap sync, writes
    # through a softmmu TLB entry that is already marked dirty are not tracked, so
    # hot pages (timer structures, kernel stacks) reach the destination stale and the
    # guest oopses there. With page-table isolation every return to user space
    # reloads CR3, which flushes TCG's TLB and re-arms dirty tracking. Without it
    # every multi-pass migration seen here crashed the guest; with it none did.
    os_boot="<kernel>$GUEST_KERNEL</kernel>
    <initrd>$GUEST_INITRD</initrd>
    <cmdline>console=ttyS0 pti=on ferry.dirty_mbps=$dirty ferry.dirty_mib=$((mem / 2))</cmdline>"
  else
    os_boot="<boot dev='hd'/>"
  fi
  cat <<XML
<domain type='$type'>
  <name>$name</name>
  <memory unit='MiB'>$mem</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    $os_boot
  </os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$QEMU_EMULATOR</emulator>
    $disk_xml
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$name.console.log' append='on'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
XML
}

# Console log of a guest, as seen from the root namespace.
guest_console_path() { printf '%s/log/qemu/%s.console.log\n' "$(host_dir "$(host_name "$1")")" "$2"; }

vm_create() {
  local host=$1 name=$2; shift 2
  local mem="" dirty=0 disk=0 i type xml
  while (($#)); do
    case $1 in
      --mem) mem=$2; shift 2 ;;
      --dirty-mbps) dirty=$2; shift 2 ;;
      --disk) disk=$2; shift 2 ;;
      *) die "vm create: unknown option $1" ;;
    esac
  done
  [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad guest name: $name"
  [[ $dirty =~ ^[0-9]+$ ]] || die "--dirty-mbps wants a number"
  [[ $disk =~ ^[0-9]+$ ]] || die "--disk wants a number of MiB"
  i=$(host_index "$host")
  libvirtd_pid "$(host_name "$i")" >/dev/null || die "$(host_name "$i") is not up (scripts/lab up)"
  if virsh_host "$i" dominfo "$name" >/dev/null 2>&1; then
    die "guest $name already exists on $(host_name "$i")"
  fi
  if ((dirty > 0)); then
    mem=${mem:-512}
    type=qemu                        # TCG: Linux does not boot under nested KVM here
    ensure_guest_images
  else
    mem=${mem:-256}
    if host_has_kvm "$i"; then type=kvm; else type=qemu; fi
  fi
  [[ $mem =~ ^[0-9]+$ ]] || die "--mem wants a number of MiB"
  rm -f "$(guest_console_path "$i" "$name")"     # no stale boot lines from an earlier guest
  xml="$(host_dir "$(host_name "$i")")/$name.xml"
  ((disk == 0)) || create_guest_disk "$i" "$name" "$disk"
  guest_domain_xml "$name" "$type" "$mem" "$dirty" "$disk" >"$xml"
  virsh_host "$i" define "$xml" >/dev/null
  if ! virsh_host "$i" start "$name" >/dev/null; then
    virsh_host "$i" undefine "$name" >/dev/null 2>&1 || true
    die "guest $name did not start on $(host_name "$i") (see $(host_dir "$(host_name "$i")")/log/qemu/$name.log)"
  fi
  virsh_host "$i" domuuid "$name"
}

vm_destroy() {
  local i
  i=$(host_index "$1")
  virsh_host "$i" destroy "$2" >/dev/null 2>&1 || true
  virsh_host "$i" undefine "$2" >/dev/null 2>&1 || true
  if virsh_host "$i" dominfo "$2" >/dev/null 2>&1; then
    die "guest $2 still exists on $(host_name "$i")"
  fi
  rm -f "$(guest_disk_host_path "$i" "$2")"   # its local disk, if it had one
}

vm_list() {
  local i
  i=$(host_index "$1")
  virsh_host "$i" list --all
}
