#!/usr/bin/env bash
# Take the NFS rig down: unmount, end the processes in its network namespace (the client, ganesha,
# rpcbind), delete the namespace, put /etc/fuse.conf back as it was. Idempotent: safe to run twice, and
# on a half-started rig. The export's content stays (the next start.sh empties it).
# Never blocks on a hung mount: the mount table is read from /proc, not by stat, and the client is ended
# before the unmount (ending it aborts the FUSE connection, which releases every caller waiting in it).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "$(id -u)" -eq 0 ] || cpkgs::die "stopping the NFS rig needs root"
rc=0

# ns_pids: the processes in the rig's namespace (only the rig's own run there).
ns_pids() {
    if [ -e "/run/netns/$NFSRIG_NETNS" ]; then ip netns pids "$NFSRIG_NETNS" 2>/dev/null || true; fi
}

# end PIDS...: SIGTERM, up to 10 s, then SIGKILL.
end() {
    local pid i alive
    [ "$#" -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive=()
        for pid in "$@"; do [ -e "/proc/$pid" ] && alive+=("$pid"); done
        [ "${#alive[@]}" -gt 0 ] || return 0
        sleep 0.1
    done
    kill -KILL "${alive[@]}" 2>/dev/null || true
    sleep 0.2
}

# The client first: its exit aborts the FUSE connection, so the unmount cannot hang on a dead server.
mapfile -t clients < <(for pid in $(ns_pids); do
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */fuse-nfs ]] && echo "$pid"
done)
end "${clients[@]}"
for mnt in "$NFSRIG_MNT" "$NFSRIG_MNT2"; do
    if nfsrig::mounted "$mnt"; then
        umount "$mnt" 2>/dev/null || umount -l "$mnt" || rc=1
    fi
    if nfsrig::mounted "$mnt"; then cpkgs::log "nfsrig: $mnt is still mounted"; rc=1; fi
done

# ganesha and rpcbind (and anything else left in the namespace), then the namespace.
mapfile -t rest < <(ns_pids)
end "${rest[@]}"
if [ -e "/run/netns/$NFSRIG_NETNS" ]; then
    [ -z "$(ns_pids)" ] || { cpkgs::log "nfsrig: processes left in $NFSRIG_NETNS: $(ns_pids | xargs)"; rc=1; }
    ip netns delete "$NFSRIG_NETNS" || rc=1
fi
rm -f "$NFSRIG_RUN/rpcbind.pid" "$NFSRIG_RUN/ganesha.pid" "$NFSRIG_RUN/ganesha.spawned"

# /etc/fuse.conf as it was before start.sh (content, mode, owner, times), or absent again.
if [ -f "$NFSRIG_RUN/fuse.conf.saved" ]; then
    cp -p "$NFSRIG_RUN/fuse.conf.saved" "$NFSRIG_FUSE_CONF" && rm -f "$NFSRIG_RUN/fuse.conf.saved" || rc=1
elif [ -f "$NFSRIG_RUN/fuse.conf.absent" ]; then
    rm -f "$NFSRIG_FUSE_CONF" "$NFSRIG_RUN/fuse.conf.absent" || rc=1
fi
exit "$rc"
