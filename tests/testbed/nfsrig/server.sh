#!/usr/bin/env bash
# Stop or start the NFS rig's server (nfs-ganesha) while the client stays mounted: what a site sees when its
# NFS server goes away under a hard mount (callers of the mount wait, unkillable, until it is back).
#
#   bash server.sh stop      end ganesha (its pid file); returns once it has exited
#   bash server.sh start     start ganesha again in the rig's namespace, as start.sh does; returns once NFSv3
#                            and MOUNT answer on rpcbind again
#   bash server.sh status    exit 0 when ganesha runs
#
# Needs root and a started rig (start.sh). stop.sh takes everything down as usual afterwards.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "$(id -u)" -eq 0 ] || cpkgs::die "the NFS rig's server needs root"
[ -e "/run/netns/$NFSRIG_NETNS" ] || cpkgs::die "the NFS rig is not started (no netns $NFSRIG_NETNS)"

pidfile="$NFSRIG_RUN/ganesha.pid"

running() {
    local pid
    pid="$(cat "$pidfile" 2>/dev/null)" || return 1
    [ -n "$pid" ] && [ -e "/proc/$pid" ] && [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */ganesha.nfsd ]]
}

answers() {
    nfsrig::in_ns rpcinfo -t 127.0.0.1 nfs 3 >/dev/null 2>&1 && nfsrig::in_ns rpcinfo -t 127.0.0.1 mountd 3 >/dev/null 2>&1
}

stop_server() {
    local pid i
    running || { cpkgs::log "nfsrig: ganesha is not running"; return 0; }
    pid="$(cat "$pidfile")"
    kill -TERM "$pid"
    for ((i = 0; i < 150; i++)); do
        [ -e "/proc/$pid" ] || { rm -f "$pidfile"; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
    [ ! -e "/proc/$pid" ] || cpkgs::die "nfsrig: ganesha (pid $pid) did not end"
    rm -f "$pidfile"
}

start_server() {
    local i
    running && { cpkgs::log "nfsrig: ganesha already runs"; return 0; }
    # The command line of start.sh's spawn of ganesha, in a session of its own.
    setsid nsenter --net="/run/netns/$NFSRIG_NETNS" ganesha.nfsd -F -f "$NFSRIG_RUN/ganesha.conf" \
        -L "$NFSRIG_RUN/ganesha.log" -p "$pidfile" -N NIV_EVENT </dev/null >>"$NFSRIG_RUN/ganesha.out" 2>&1 &
    printf '%s\n' "$!" >"$NFSRIG_RUN/ganesha.spawned"
    for ((i = 0; i < 300; i++)); do
        answers && return 0
        sleep 0.1
    done
    tail -n 20 "$NFSRIG_RUN/ganesha.log" >&2
    cpkgs::die "nfsrig: ganesha did not answer in 30 s"
}

case "${1:-}" in
    stop) stop_server ;;
    start) start_server ;;
    status) running ;;
    *) cpkgs::die "usage: server.sh stop|start|status" ;;
esac
