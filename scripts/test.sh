#!/usr/bin/env bash
# Run every test of cpkgs.conda: lint, ansible-test sanity, the test bed's own tests (channel, stand-in,
# conda contract, installer, shell hooks), unit and integration tests, the collection build, and the
# Molecule scenarios. Installs what it needs first (apt packages, ./.venv, the offline test bed).
#
#   bash scripts/test.sh                 # everything (what .ci/run calls)
#   CPKGS_STAGES="lint testbed" bash scripts/test.sh    # a subset, in the order given
#
# Against real conda instead of the stand-in (needs network access for the channels you name):
#   CPKGS_TEST_CONDA_EXE=/path/to/conda bash scripts/test.sh
#   CPKGS_TEST_INSTALLER=Miniforge3-Linux-x86_64.sh CPKGS_TEST_INSTALLER_SHA256=<sha256> bash scripts/test.sh
#
# Every stage runs even when an earlier one failed; the exit status is non-zero if any stage failed.

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_STAGES="lint sanity testbed units integration build molecule"
STAGES="${CPKGS_STAGES:-$ALL_STAGES}"
CPKGS_TIMES="$(mktemp)"
export CPKGS_TIMES
trap 'rm -f "$CPKGS_TIMES"' EXIT

# --- bootstrap --------------------------------------------------------------------------------------
bootstrap() {
    cpkgs::apt ca-certificates python3 python3-venv git rsync zstd shellcheck zsh tcsh \
        podman runc debootstrap uidmap slirp4netns fuse-overlayfs
    cpkgs::venv
    cpkgs::ansible_env
    cpkgs::channel
    cpkgs::installer
    cpkgs::collections
    case " $STAGES " in *" molecule "*) cpkgs::podman ;; esac
}

# --- stages -----------------------------------------------------------------------------------------
# Stages run inside `||`, where bash ignores `set -e`: every command whose failure matters goes through
# `check`, which records the failure and lets the stage go on, so one run reports all problems.
STAGE_RC=0
check() {
    local rc=0
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '\033[31mFAILED (rc=%s): %s\033[0m\n' "$rc" "$*" >&2
        STAGE_RC=1
    fi
    return 0
}

stage_lint() {
    cd "$CPKGS_REPO" || return 1
    local shell_files
    mapfile -t shell_files < <(git ls-files -co --exclude-standard '*.sh' 2>/dev/null)
    check ruff check .
    check yamllint -s .
    check shellcheck -x .ci/run "${shell_files[@]}"
    check ansible-lint --offline -q
    check antsibull-changelog lint
    check python scripts/gen_role_docs.py --check
}

# ansible-test wants the collection under ansible_collections/NAMESPACE/NAME; copy the tracked files
# (and new ones not ignored) there. Its pip bootstrap downloads get-pip.py, which cannot work offline:
# a small script of ours in its cache runs ensurepip instead (tests/testbed/ansible_test_get_pip.py).
ansible_test() {
    # Outside the checkout: inside it, ansible-test would ask the checkout's git and see no files.
    local root
    root="${TMPDIR:-/tmp}/cpkgs-ansible-test-$(id -u)-$(printf '%s' "$CPKGS_REPO" | sha256sum | cut -c1-12)"
    root="$root/ansible_collections/cpkgs/conda"
    local home="$CPKGS_CACHE/ansible-test-home"
    rm -rf "$root" && mkdir -p "$root" "$home/.ansible/test/cache" || return 1
    cp "$CPKGS_REPO/tests/testbed/ansible_test_get_pip.py" "$home/.ansible/test/cache/get_pip_24_2.py" || return 1
    (
        cd "$CPKGS_REPO" || exit 1
        if [ -d .git ]; then
            git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$root/"
        else
            rsync -a --exclude .venv --exclude .build --exclude .demo --exclude .git ./ "$root/"
        fi
    ) || return 1
    # ansible-test filters the environment; integration targets get the test bed through extra vars.
    cat >"$root/tests/integration/integration_config.yml" <<YAML
---
cpkgs_build: "$CPKGS_BUILD"
cpkgs_test_conda_exe: "${CPKGS_TEST_CONDA_EXE:-}"
YAML
    (cd "$root" && HOME="$home" PIP_CACHE_DIR="$CPKGS_CACHE/pip" ansible-test "$@")
}

stage_sanity() {
    check ansible_test sanity --local --python 3.11 --color yes
}

stage_testbed() {
    cd "$CPKGS_REPO" || return 1
    check pytest -p no:cacheprovider -q -n 2 tests/testbed/tests
}

stage_units() {
    if [ -z "$(find "$CPKGS_REPO/tests/unit" -name 'test_*.py' -print -quit)" ]; then
        echo "no unit tests yet"; return 0
    fi
    check ansible_test units --local --python 3.11 --color yes
}

stage_integration() {
    if [ -z "$(find "$CPKGS_REPO/tests/integration/targets" -mindepth 1 -maxdepth 1 -type d -print -quit)" ]; then
        echo "no integration targets yet"; return 0
    fi
    check ansible_test integration --local --python 3.11 --color yes
}

# The collection builds into a tarball that installs, and every plugin's docs load with ansible-doc.
stage_build() {
    local dist="$CPKGS_BUILD/dist" inst="$CPKGS_BUILD/dist-installed"
    local version plugin name
    version="$(awk '$1 == "version:" { print $2 }' "$CPKGS_REPO/galaxy.yml")"
    rm -rf "$dist" "$inst"
    (cd "$CPKGS_REPO" && ansible-galaxy collection build --output-path "$dist") || return 1
    ansible-galaxy collection install --force -p "$inst" "$dist/cpkgs-conda-$version.tar.gz" || return 1
    check grep -Eq "cpkgs\.conda +$version" <(ANSIBLE_COLLECTIONS_PATH="$inst" ansible-galaxy collection list cpkgs.conda)
    for plugin in "$inst"/ansible_collections/cpkgs/conda/plugins/modules/*.py; do
        [ -e "$plugin" ] || continue
        name="$(basename "$plugin" .py)"
        check env ANSIBLE_COLLECTIONS_PATH="$inst" ansible-doc "cpkgs.conda.$name" >/dev/null
    done
    # The tarball must not carry build outputs or the test bed's caches.
    check bash -c "! tar -tzf '$dist/cpkgs-conda-$version.tar.gz' | grep -E '(^|/)(\.build|\.venv|\.demo)/'"
}

stage_molecule() {
    cd "$CPKGS_REPO" || return 1
    local scenario
    for scenario in molecule/*/molecule.yml; do
        scenario="$(basename "$(dirname "$scenario")")"
        check cpkgs::timed "molecule:$scenario" molecule test -s "$scenario"
    done
}

# --- main -------------------------------------------------------------------------------------------
# run_stage NAME: the stage fails when it returns non-zero or any of its `check`s failed.
run_stage() {
    STAGE_RC=0
    "stage_$1" || STAGE_RC=1
    return "$STAGE_RC"
}

cpkgs::timed bootstrap bootstrap || cpkgs::die "bootstrap failed"
failed=0
for stage in $STAGES; do
    declare -F "stage_$stage" >/dev/null || cpkgs::die "unknown stage '$stage' (known: $ALL_STAGES)"
    cpkgs::log "stage: $stage"
    cpkgs::timed "$stage" run_stage "$stage" || failed=$((failed + 1))
done

cpkgs::log "summary (seconds, exit status)"
awk '{ printf "  %-24s %7.1f  %s\n", $1, $2, ($3 == 0 ? "ok" : "FAILED rc=" $3) }' "$CPKGS_TIMES"
n="$(wc -w <<<"$STAGES")"
echo "stages: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
