# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file
# Shared by the NFS rig's scripts (sourced, not run): scripts/lib.sh, and where the rig lives.
#
#   $CPKGS_BUILD/nfsrig/export        the exported directory (on the local disk; ganesha serves it)
#   $CPKGS_BUILD/nfsrig/mnt           the FUSE NFS mount of it (CPKGS_NFS_MOUNT)
#   $CPKGS_BUILD/nfsrig/run           pids, logs, ganesha's configuration, the saved /etc/fuse.conf
#   network namespace cpkgsnfs-HASH   rpcbind, ganesha and the client; only `lo` (HASH: of $CPKGS_BUILD)

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib.sh"

NFSRIG_DIR="$CPKGS_BUILD/nfsrig"
NFSRIG_EXPORT="$NFSRIG_DIR/export"
NFSRIG_MNT="$NFSRIG_DIR/mnt"
NFSRIG_MNT2="$NFSRIG_DIR/mnt2"  # a second client's mount of the same export: another host (second_mount.sh)
NFSRIG_RUN="$NFSRIG_DIR/run"
NFSRIG_NETNS="cpkgsnfs-$(printf '%s' "$CPKGS_BUILD" | sha256sum | cut -c1-8)"
# The share's owner: an unprivileged system account, made when missing (uid/gid 960 when free).
NFSRIG_OWNER="${CPKGS_NFS_OWNER:-cpkgsadm}"
NFSRIG_OWNER_ID=960
NFSRIG_FUSE_CONF=/etc/fuse.conf
NFSRIG_PACKAGES=(nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-dev libnfs-utils libfuse-dev autoconf automake
    libtool pkg-config build-essential sudo acl iproute2 fuse3 util-linux)

# nfsrig::in_ns CMD...: run CMD in the rig's network namespace.
nfsrig::in_ns() { nsenter --net="/run/netns/$NFSRIG_NETNS" "$@"; }

# nfsrig::mounted [MOUNT]: the mount point (default the rig's) is in the mount table (read from the table: a
# stat could hang).
nfsrig::mounted() {
    awk -v m="${1:-$NFSRIG_MNT}" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}
