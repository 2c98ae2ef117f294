#!/usr/bin/python3
"""One live P2P migration through libvirt-python's migrateToURI3, the way a
script or an older management layer calls libvirt directly: the bare-libvirt
baseline of the wall-time benchmark (migrate-wall-time.ts).

    migrate_to_uri3.py SRC_URI DOMAIN DST_P2P_URI MIGRATE_URI LISTEN_ADDRESS

Same flags as the benchmark's `virsh migrate --live --p2p --persistent
--undefinesource`. Prints the wall time of the migrateToURI3 call alone (ms),
so the interpreter's start-up and the connection are not counted; the caller
also measures from outside.
"""
import sys
import time

import libvirt


def main() -> int:
    src_uri, name, dst_uri, migrate_uri, listen_address = sys.argv[1:6]
    conn = libvirt.open(src_uri)
    try:
        dom = conn.lookupByName(name)
        params = {
            libvirt.VIR_MIGRATE_PARAM_URI: migrate_uri,  # where QEMU's stream goes
            libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS: listen_address,  # where the destination QEMU listens
        }
        flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
                 | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
        t0 = time.monotonic()
        dom.migrateToURI3(dst_uri, params, flags)  # returns when libvirt reports the job complete
        print(round((time.monotonic() - t0) * 1000))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
