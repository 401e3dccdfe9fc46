#!/usr/bin/env bash
# The offline demo: the whole set-up (playbooks/site.yml) on this machine, with no network.
#
# Bootstraps what it needs (apt packages, ./.venv, the test bed's local channel and stand-in installer),
# then runs the site playbook against localhost into .demo/nfs/cpkgs, a directory of this checkout that
# stands for the NFS share, runs it a second time to show it changes nothing, and prints what a user
# would type next. Arguments are passed on to ansible-playbook (e.g. -v). Each phase (bootstrap, converge,
# second run, the user commands) prints its elapsed time when it ends, and all of them again at the end
# (also in .demo/phases.txt).
# The conda in the demo tree is the test bed's stand-in (py-rattler), not real conda.

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEMO="$CPKGS_REPO/.demo"
mkdir -p "$DEMO"
# Each phase's elapsed time, printed when it ends and again in a summary (cpkgs::timed writes "NAME SECONDS RC").
CPKGS_TIMES="$DEMO/phases.txt"
: >"$CPKGS_TIMES"
phase() {
    local rc=0
    cpkgs::timed "$@" || rc=$?
    cpkgs::log "$(tail -n 1 "$CPKGS_TIMES" | awk '{ printf "%s: %s s%s", $1, $2, ($3 == 0 ? "" : " (failed)") }')"
    return "$rc"
}

bootstrap() {
    cpkgs::apt ca-certificates python3 python3-venv git rsync &&
        cpkgs::venv && cpkgs::ansible_env && cpkgs::channel && cpkgs::installer && cpkgs::collections
}
cpkgs::log "bootstrap: apt packages, venv, the test bed's channel and installer, collections"
phase bootstrap bootstrap

SHARE="$DEMO/nfs/cpkgs"
INSTALLER="$CPKGS_BUILD/installer/$CPKGS_INSTALLER_NAME"
mkdir -p "$SHARE" "$DEMO/cache"
cat >"$DEMO/paths.yml" <<YAML
---
# Written by scripts/demo.sh: the paths of this checkout.
cpkgs_conda_tree_options:
  share_root: "$SHARE"
conda_tree_cache_dir: "$DEMO/cache"
conda_tree_installers:
  Linux-x86_64:
    file: "$INSTALLER"
    sha256: "$(cut -d' ' -f1 "$INSTALLER.sha256")"
conda_envs_channels:
  - "file://$CPKGS_BUILD/channel/cpkgs-testbed"
conda_client_hook_dir: "$DEMO/etc/profile.d"
YAML

run_site() {
    ansible-playbook -i "$CPKGS_REPO/inventories/demo/hosts.yml" -e "@$DEMO/paths.yml" cpkgs.conda.site "$@"
}

second_run() {
    run_site "$@" | tee "$DEMO/second-run.log" | tail -n 4
}

cpkgs::log "ansible-playbook cpkgs.conda.site (first run)"
phase converge run_site "$@"
cpkgs::log "ansible-playbook cpkgs.conda.site (second run: nothing to change)"
phase second-run second_run "$@"
grep -Eq 'changed=0 .*failed=0' "$DEMO/second-run.log" || cpkgs::die "the second run changed something: see $DEMO/second-run.log"

TREE="$SHARE/anaconda3_linux"
HOOK="$DEMO/etc/profile.d/zz-cpkgs-conda.sh"
USER_COMMANDS="source $HOOK
conda env list
conda activate isis4.3.0
isis-version"

cat <<TXT

The demo share is ready: $TREE
(its conda is the test bed's stand-in on py-rattler, installed like a Miniforge tree; not real conda)

What a user types next (the hook picks the tree for this OS, as /etc/profile.d/zz-cpkgs-conda.sh would):
  ${USER_COMMANDS//$'\n'/$'\n'  }
TXT

# Show it as an ordinary account: a shared tree is for users who own none of it.
if [ "$(id -u)" -eq 0 ]; then
    demo_user=nobody
    demo_home="$DEMO/home-$demo_user"
    mkdir -p "$demo_home" && chown "$demo_user:" "$demo_home"
    cpkgs::log "the same commands as '$demo_user' (an account that owns nothing of the tree)"
    if ! phase user-commands setpriv --reuid="$demo_user" --regid="$(id -g "$demo_user")" --clear-groups \
            env -i HOME="$demo_home" PATH=/usr/bin:/bin LANG=C.UTF-8 bash -c "$USER_COMMANDS" ; then
        cpkgs::die "an ordinary account cannot use the demo tree (is $CPKGS_REPO readable by other accounts?)"
    fi
fi

cpkgs::log "elapsed time of each phase (seconds)"
awk '{ printf "  %-14s %7.1f\n", $1, $2; total += $2 } END { printf "  %-14s %7.1f\n", "total", total }' "$CPKGS_TIMES"
