#!/usr/bin/env bash
# A second client of the NFS rig's export, mounted at $CPKGS_BUILD/nfsrig/mnt2: another host on the same share
# (two hosts installing or building at once). Its own fuse-nfs process, so nothing is shared with the first
# mount but the server: no common page cache, no common locks (the client has no NLM).
#
#   bash second_mount.sh mount KIT    mount it (KIT: as for start.sh); prints the mount point
#   bash second_mount.sh umount       end its client and unmount it (stop.sh does it too)
#
# Needs root and a started rig (start.sh).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ "$(id -u)" -eq 0 ] || cpkgs::die "the NFS rig needs root"
[ -e "/run/netns/$NFSRIG_NETNS" ] || cpkgs::die "the NFS rig is not started (no netns $NFSRIG_NETNS)"

client_pids() {
    local pid
    for pid in $(ip netns pids "$NFSRIG_NETNS" 2>/dev/null); do
        [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */fuse-nfs ]] || continue
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-m $NFSRIG_MNT2 " && echo "$pid"
    done
}

case "${1:-}" in
    mount)
        [ -n "${2:-}" ] || cpkgs::die "usage: second_mount.sh mount KIT"
        if nfsrig::mounted "$NFSRIG_MNT2"; then printf '%s\n' "$NFSRIG_MNT2"; exit 0; fi
        client="$(bash "$here/build_client.sh" "$2")" || cpkgs::die "building fuse-nfs failed"
        mkdir -p "$NFSRIG_MNT2"
        nfsrig::in_ns "$client" -t 0 -n "nfs://127.0.0.1$NFSRIG_EXPORT?version=3" -m "$NFSRIG_MNT2" -a \
            </dev/null >>"$NFSRIG_RUN/fuse-nfs2.log" 2>&1 || { cat "$NFSRIG_RUN/fuse-nfs2.log" >&2; exit 1; }
        for _ in $(seq 100); do nfsrig::mounted "$NFSRIG_MNT2" && break; sleep 0.1; done
        nfsrig::mounted "$NFSRIG_MNT2" || cpkgs::die "nfsrig: $NFSRIG_MNT2 did not mount"
        printf '%s\n' "$NFSRIG_MNT2"
        ;;
    umount)
        mapfile -t pids < <(client_pids)
        [ "${#pids[@]}" -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true
        sleep 0.5
        if nfsrig::mounted "$NFSRIG_MNT2"; then umount "$NFSRIG_MNT2" 2>/dev/null || umount -l "$NFSRIG_MNT2"; fi
        ! nfsrig::mounted "$NFSRIG_MNT2" || cpkgs::die "nfsrig: $NFSRIG_MNT2 is still mounted"
        ;;
    *) cpkgs::die "usage: second_mount.sh mount KIT | umount" ;;
esac
