#!/usr/bin/env bash
# Run every test of cpkgs.conda: lint, ansible-test sanity, the test bed's own tests (channel, stand-in,
# conda contract, installer, shell hooks), unit and integration tests, the collection build, and the
# Molecule scenarios. Installs what it needs first (apt packages, ./.venv, the offline test bed).
#
#   bash scripts/test.sh                 # everything (what .ci/run calls)
#   CPKGS_STAGES="lint testbed" bash scripts/test.sh    # a subset, in the order given
#
# Real conda: with CPKGS_REAL_CONDA_KIT naming a folder with conda's and menuinst's source (.ci/run passes
# ../shared/realconda when it exists), the test bed builds a real-conda tree and an installer of it, and the
# real-* stages run the contract test, every integration target and the default Molecule scenario on real
# conda. Without the kit those stages are skipped, and the summary says so.
#
# NFS: with CPKGS_NFS_RIG_KIT naming the NFS rig kit (.ci/run passes ../shared/nfsrig when it exists), stage
# nfs starts a real NFSv3 share with root_squash (tests/testbed/nfsrig) and runs tests/nfs on it; without the
# kit it is skipped.
#
#   CPKGS_IT_TARGETS="conda_env condarc" ...   # only these integration targets
#   CPKGS_AT_ONCE=0 ...                        # sanity and integration: one ansible-core after the other
#
# Every stage runs even when an earlier one failed; the exit status is non-zero if any stage failed.

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_STAGES="lint sanity testbed units integration activation build molecule real-testbed real-integration real-molecule nfs"
# The oldest and the newest ansible-core the collection supports (CORE@PYTHON; meta/runtime.yml says the
# oldest): stages sanity, units and integration run on each (a venv apiece under $CPKGS_BUILD; with the real conda
# kit, stage real-integration takes the newest). The main venv's ansible-core (requirements/test.txt) runs lint,
# the Molecule scenarios and the demo.
COMPAT_MATRIX="2.16.19@3.11 2.21.5@3.13"
# The oldest python of managed nodes (RHEL 9's 3.9, RHEL 8's python39): modules' unit tests run on it too.
MANAGED_PYTHON=3.9
STAGES="${CPKGS_STAGES:-$ALL_STAGES}"
CPKGS_TIMES="$(mktemp)"
CPKGS_SKIPS="$(mktemp)"
export CPKGS_TIMES
trap 'rm -f "$CPKGS_TIMES" "$CPKGS_SKIPS"' EXIT

# --- bootstrap --------------------------------------------------------------------------------------
bootstrap() {
    # lua5.3 and tcl: the units run the generated Lmod and Tcl modulefiles through lua and tclsh
    cpkgs::apt ca-certificates python3 python3-venv git rsync zstd shellcheck zsh tcsh lua5.3 tcl openssh-client \
        podman runc debootstrap uidmap slirp4netns fuse-overlayfs squashfs-tools squashfuse
    cpkgs::venv
    cpkgs::ansible_env
    cpkgs::channel
    cpkgs::installer
    cpkgs::collections
    case " $STAGES " in *" molecule "* | *" real-molecule "*) cpkgs::podman ;; esac
    case " $STAGES " in *" real-"*) cpkgs::realconda ;; esac
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
    check ruff check --preview --select E3 -q .  # blank lines as sanity's pep8 wants them (E30x are preview rules)
    check yamllint -s .
    check shellcheck -x .ci/run "${shell_files[@]}"
    check ansible-lint --offline -q
    check antsibull-changelog lint
    check python scripts/gen_role_docs.py --check
    check python scripts/check_module_docs.py  # module docs parse as YAML (sanity would fail later)
    # every tag runs what it names; item checks; a killed installer and env build (real conda: stage real-testbed)
    check pytest -p no:cacheprovider -q -n 2 tests/roles -k "not realconda"
}

# ansible-test wants the collection under ansible_collections/NAMESPACE/NAME; copy the tracked files
# (and new ones not ignored) there. Its pip bootstrap downloads get-pip.py, which cannot work offline:
# a small script of ours in its cache runs ensurepip instead (tests/testbed/ansible_test_get_pip.py).
ansible_test() {
    # Outside the checkout: inside it, ansible-test would ask the checkout's git and see no files.
    # A directory of this run's own: two runs at once (two checkouts, or stages run by hand) must not share it.
    local top root rc=0
    top="$(mktemp -d "${TMPDIR:-/tmp}/cpkgs-ansible-test.XXXXXX")" || return 1
    root="$top/ansible_collections/cpkgs/conda"
    local home="$CPKGS_CACHE/ansible-test-home"
    mkdir -p "$root" "$home/.ansible/test/cache" || return 1
    # ansible-test makes its ssh key on first use; two runs side by side on a fresh cache would both make it (and
    # one fails): the first run here makes it, under a lock, as ansible-test would.
    (
        flock 9 || exit 1
        [ -e "$home/.ansible/test/id_rsa" ] && [ -e "$home/.ansible/test/id_rsa.pub" ] && exit 0
        rm -f "$home/.ansible/test/id_rsa" "$home/.ansible/test/id_rsa.pub"
        ssh-keygen -m PEM -q -t rsa -N '' -f "$home/.ansible/test/id_rsa"
    ) 9>"$home/.ansible/test/.cpkgs-keygen.lock" || return 1
    # Under the name the ansible-test on PATH asks for (get_pip_<its pip version>.py).
    local pip_version
    pip_version="$(python - <<'PY'
import pathlib, re, ansible_test
text = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", text).group(1).replace(".", "_"))
PY
)" || return 1
    cp "$CPKGS_REPO/tests/testbed/ansible_test_get_pip.py" "$home/.ansible/test/cache/get_pip_$pip_version.py" || return 1
    (
        cd "$CPKGS_REPO" || exit 1
        if [ -d .git ]; then
            git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$root/"
        else
            rsync -a --exclude .venv --exclude .build --exclude .demo --exclude .git ./ "$root/"
        fi
    ) || return 1
    # ansible-test filters the environment; integration targets get the test bed through extra vars.
    local installer="${CPKGS_IT_INSTALLER:-$CPKGS_BUILD/installer/$CPKGS_INSTALLER_NAME}"
    cat >"$root/tests/integration/integration_config.yml" <<YAML
---
cpkgs_build: "$CPKGS_BUILD"
# The installer the targets install trees from: the stand-in's, or real conda's (stage real-integration).
cpkgs_installer: "$installer"
cpkgs_installer_sha256: "$(cut -d' ' -f1 "$installer.sha256")"
cpkgs_conda_kind: "${CPKGS_IT_CONDA_KIND:-standin}"
YAML
    (cd "$root" && HOME="$home" PIP_CACHE_DIR="$CPKGS_CACHE/pip" ansible-test "$@") || rc=$?
    rm -rf "$top"
    return "$rc"
}

# on_each_core NAME ARGS...: `ansible_test ARGS` once with each ansible-core of COMPAT_MATRIX (its python
# substituted for @PY@), each run timed as NAME:CORE.
on_each_core() {
    local name="$1" entry core py venv arg
    shift
    for entry in $COMPAT_MATRIX; do
        core="${entry%@*}" py="${entry#*@}"
        venv="$(cpkgs::matrix_venv "$core" "$py")" || { STAGE_RC=1; continue; }
        local args=()
        for arg in "$@"; do args+=("${arg//@PY@/$py}"); done
        check cpkgs::timed "$name:$core" in_venv "$venv" ansible_test "${args[@]}"
    done
}

# aside_done LABEL PID LOG: wait for a run started aside (in the background, its output in LOG), print its output
# under its label, and mark the stage failed when it failed.
aside_done() {
    local rc=0
    wait "$2" || rc=$?
    printf -- '----- %s -----\n' "$1"
    cat "$3"
    if [ "$rc" -ne 0 ]; then
        printf '\033[31mFAILED (rc=%s): %s\033[0m\n' "$rc" "$1" >&2
        STAGE_RC=1
    fi
}

# on_each_core_at_once NAME ARGS...: as on_each_core, with the ansible-core versions side by side (a sanity or
# integration run keeps about one core busy; the machines have two). Each run's output goes to a file and is
# printed whole when the run ends, in the matrix's order. CPKGS_AT_ONCE=0 runs them one after the other.
on_each_core_at_once() {
    if [ "${CPKGS_AT_ONCE:-1}" = 0 ]; then
        on_each_core "$@"
        return
    fi
    local name="$1" entry core py venv arg dir i
    shift
    local pids=() labels=()
    dir="$(mktemp -d "${TMPDIR:-/tmp}/cpkgs-at-once.XXXXXX")" || return 1
    for entry in $COMPAT_MATRIX; do
        core="${entry%@*}" py="${entry#*@}"
        venv="$(cpkgs::matrix_venv "$core" "$py")" || { STAGE_RC=1; continue; }
        local args=()
        for arg in "$@"; do args+=("${arg//@PY@/$py}"); done
        cpkgs::timed "$name:$core" in_venv "$venv" ansible_test "${args[@]}" >"$dir/$core.log" 2>&1 &
        pids+=("$!") labels+=("$name:$core")
    done
    echo "running ${labels[*]} side by side; each one's output follows when it ends"
    for i in "${!pids[@]}"; do
        aside_done "${labels[$i]}" "${pids[$i]}" "$dir/${labels[$i]#*:}.log"
    done
    rm -rf "$dir"
}

stage_sanity() {
    on_each_core_at_once sanity sanity --local --python @PY@ --color yes
}

stage_testbed() {
    cd "$CPKGS_REPO" || return 1
    check pytest -p no:cacheprovider -q -n 2 tests/testbed/tests
}

stage_units() {
    if [ -z "$(find "$CPKGS_REPO/tests/unit" -name 'test_*.py' -print -quit)" ]; then
        echo "no unit tests yet"; return 0
    fi
    on_each_core_at_once units units --local --python @PY@ --color yes --requirements
    # and on the oldest managed-node python (tests/config.yml), with the oldest ansible-core
    local oldest="${COMPAT_MATRIX%% *}" venv
    venv="$(cpkgs::matrix_venv "${oldest%@*}" "${oldest#*@}")" || return 1
    check cpkgs::timed "units:${oldest%@*}:py$MANAGED_PYTHON" in_venv "$venv" with_python "$MANAGED_PYTHON" \
        ansible_test units --venv --python "$MANAGED_PYTHON" --color yes --requirements
}

stage_integration() {
    if [ -z "$(find "$CPKGS_REPO/tests/integration/targets" -mindepth 1 -maxdepth 1 -type d -print -quit)" ]; then
        echo "no integration targets yet"; return 0
    fi
    local targets
    read -r -a targets <<<"${CPKGS_IT_TARGETS:-}"
    local matrix="$COMPAT_MATRIX"
    if [ -n "${CPKGS_IT_NEWEST_CORE:-}" ]; then  # stage real-integration: the newest ansible-core only
        matrix="${COMPAT_MATRIX##* }"
    elif real_stage_runs real-integration; then  # which runs the newest: the stand-in here takes the others
        matrix="${COMPAT_MATRIX% *}"
        echo "integration: ${COMPAT_MATRIX##* } is stage real-integration's (the same targets on real conda)"
    fi
    COMPAT_MATRIX="$matrix" on_each_core_at_once "${CPKGS_IT_LABEL:-integration}" integration --local \
        --python @PY@ --color yes "${targets[@]}"
}

# Loading a release without conda (module conda_activation): the generated Lmod and Environment Modules files
# and the plain shell entries give the environment `conda activate` gives, in bash, zsh and tcsh, on the
# stand-in and (when its installer is there) on real conda; a Jupyter kernel starts activated
# (tests/activation). Debian's lmod and environment-modules packages conflict: lmod is installed, and
# environment-modules only unpacked under $CPKGS_BUILD (its modulecmd.tcl runs with tclsh from there). The
# kernel test's ipykernel and jupyter_client go into a venv of their own, not into .venv.
stage_activation() {
    cd "$CPKGS_REPO" || return 1
    cpkgs::apt lmod strace tcl8.6 || return 1
    local em="$CPKGS_BUILD/environment-modules" kernel_venv="$CPKGS_BUILD/activation-venv" modulecmd real
    modulecmd="$(find "$em/root/usr/lib" -name modulecmd.tcl -type f -print -quit 2>/dev/null || true)"
    if [ -z "$modulecmd" ]; then
        rm -rf "$em" && mkdir -p "$em" || return 1
        (cd "$em" && apt-get download -q environment-modules) || return 1
        dpkg-deb -x "$(find "$em" -maxdepth 1 -name 'environment-modules_*.deb' -print -quit)" "$em/root" || return 1
        modulecmd="$(find "$em/root/usr/lib" -name modulecmd.tcl -type f -print -quit)"
    fi
    if [ ! -x "$kernel_venv/bin/jupyter" ]; then
        rm -rf "$kernel_venv"
        python3 -m venv "$kernel_venv" || return 1
        PIP_CACHE_DIR="$CPKGS_CACHE/pip" "$kernel_venv/bin/python" -m pip install -q --disable-pip-version-check \
            ipykernel jupyter_client 2>&1 | grep -v 'is ignored: it is neither a file nor a directory' || true
        [ -x "$kernel_venv/bin/jupyter" ] || return 1
    fi
    real="${CPKGS_TEST_INSTALLER:-${CPKGS_REAL_INSTALLER:-$CPKGS_BUILD/realconda/realconda-26.7.1-Linux-x86_64.sh}}"
    [ -f "$real" ] || real=""
    check env CPKGS_MODULES_TCL="$modulecmd" CPKGS_KERNEL_PYTHON="$kernel_venv/bin/python" \
        CPKGS_TEST_INSTALLER="$real" pytest -p no:cacheprovider -q tests/activation
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

# The cluster scenario (four containers, two rollout methods, the job loop) takes longer than the other scenarios
# together and waits on its containers much of the time: it runs beside them, its output in a file printed when
# it ends (container, network and volume names differ per scenario). CPKGS_AT_ONCE=0 runs them one after another.
# The default scenario runs once: when this run has stage real-molecule (with its kit), on real conda, here beside
# the cluster scenario, and stage real-molecule reports it (REAL_MOLECULE_RC); else with the stand-in.
stage_molecule() {
    cd "$CPKGS_REPO" || return 1
    local scenario aside="" pid="" log
    if [ "${CPKGS_AT_ONCE:-1}" != 0 ] && [ -f molecule/cluster/molecule.yml ]; then
        aside=cluster
        log="$(mktemp "${TMPDIR:-/tmp}/cpkgs-molecule-cluster.XXXXXX")" || return 1
        cpkgs::timed "molecule:cluster" molecule test -s cluster >"$log" 2>&1 &
        pid="$!"
        echo "running molecule:cluster beside the other scenarios; its output follows when it ends"
    fi
    for scenario in molecule/*/molecule.yml; do
        scenario="$(basename "$(dirname "$scenario")")"
        [ "$scenario" = "$aside" ] && continue
        if [ "$scenario" = default ] && real_stage_runs real-molecule; then
            REAL_MOLECULE_RC=0
            real_molecule || REAL_MOLECULE_RC=$?
            echo "molecule: default ran on real conda for stage real-molecule (rc $REAL_MOLECULE_RC)"
            continue
        fi
        check cpkgs::timed "molecule:$scenario" molecule test -s "$scenario"
    done
    if [ -n "$pid" ]; then
        aside_done molecule:cluster "$pid" "$log"
        rm -f "$log"
    fi
}

# in_venv DIR CMD...: CMD with DIR/bin first on PATH (ansible-test and ansible-core of that venv).
in_venv() {
    local -x PATH="$1/bin:$PATH"
    shift
    "$@"
}

# with_python X.Y CMD...: CMD with python X.Y on PATH (ansible-test --venv makes its venv from it).
with_python() {
    local dir
    dir="$(dirname "$(cpkgs::python "$1")")" || return 1
    local -x PATH="$PATH:$dir"
    shift
    "$@"
}

# --- real conda (CPKGS_REAL_CONDA_KIT) --------------------------------------------------------------
# Each real-* stage runs the same tests as its stand-in twin, with real conda 26.7.1 built from the kit.
# Without the kit it is skipped; run_stage records "skipped: no real conda kit" for the summary.
# real_stage_runs STAGE: whether this run has the real-conda stage STAGE, with its kit. Its stand-in twin then
# leaves that stage's share to it, so that each test runs once: the integration targets on the newest
# ansible-core (stage integration takes the others), the default Molecule scenario (run in stage molecule, beside
# the cluster scenario, and reported by stage real-molecule).
real_stage_runs() {
    [ -n "${CPKGS_REAL_CONDA_KIT:-}" ] && [[ " $STAGES " == *" $1 "* ]]
}

real_kit_missing() {
    [ -n "${CPKGS_REAL_CONDA_KIT:-}" ] && return 1
    echo "skipped: no real conda kit (CPKGS_REAL_CONDA_KIT is not set)"
    SKIPPED="no real conda kit"
    return 0
}

stage_real-testbed() {
    real_kit_missing && return 0
    cd "$CPKGS_REPO" || return 1
    check env CPKGS_TEST_CONDA_EXE="$CPKGS_REAL_CONDA_EXE" CPKGS_TEST_INSTALLER="$CPKGS_REAL_INSTALLER" \
        pytest -p no:cacheprovider -q tests/testbed/tests/test_contract.py tests/testbed/tests/test_realconda.py
    # kill -9 of its installer, and of conda_env while real conda builds a release
    check pytest -p no:cacheprovider -q -k realconda tests/roles/test_conda_tree_killed.py tests/roles/test_conda_env_killed.py
}

stage_real-integration() {
    real_kit_missing && return 0
    CPKGS_IT_INSTALLER="$CPKGS_REAL_INSTALLER" CPKGS_IT_CONDA_KIND=real CPKGS_IT_NEWEST_CORE=1 \
        CPKGS_IT_LABEL=real-integration stage_integration
}

with_real_installer() {
    (
        export CPKGS_TEST_INSTALLER="$CPKGS_REAL_INSTALLER"
        CPKGS_TEST_INSTALLER_SHA256="$(cut -d' ' -f1 "$CPKGS_REAL_INSTALLER.sha256")" || exit 1
        export CPKGS_TEST_INSTALLER_SHA256
        "$@"
    )
}

real_molecule() {
    cpkgs::timed "real-molecule:default" with_real_installer molecule test -s default
}

stage_real-molecule() {
    real_kit_missing && return 0
    cd "$CPKGS_REPO" || return 1
    if [ -n "${REAL_MOLECULE_RC:-}" ]; then
        echo "real-molecule: the default scenario ran on real conda in stage molecule, beside the cluster scenario" \
            "(real-molecule:default above): rc $REAL_MOLECULE_RC"
        return "$REAL_MOLECULE_RC"
    fi
    check real_molecule
}

# --- NFS (CPKGS_NFS_RIG_KIT) -------------------------------------------------------------------------
# A real NFSv3 share with root_squash (tests/testbed/nfsrig), and tests/nfs run on it; the rig is stopped
# whatever happens (the trap covers an interrupted run too).
nfs_kit_missing() {
    [ -n "${CPKGS_NFS_RIG_KIT:-}" ] && return 1
    echo "skipped: no NFS rig kit (CPKGS_NFS_RIG_KIT is not set)"
    SKIPPED="no NFS rig kit"
    return 0
}

stage_nfs() {
    nfs_kit_missing && return 0
    cd "$CPKGS_REPO" || return 1
    trap 'cpkgs::nfsrig_stop; rm -f "$CPKGS_TIMES" "$CPKGS_SKIPS"' EXIT
    if cpkgs::nfsrig_start; then
        check cpkgs::timed "nfs:tests" env CPKGS_NFS_MOUNT="$CPKGS_NFS_MOUNT" \
            pytest -p no:cacheprovider -q -rs tests/nfs
    else
        STAGE_RC=1
    fi
    check cpkgs::timed "nfsrig:stop" cpkgs::nfsrig_stop
    trap 'rm -f "$CPKGS_TIMES" "$CPKGS_SKIPS"' EXIT
}

# --- main -------------------------------------------------------------------------------------------
# run_stage NAME: the stage fails when it returns non-zero or any of its `check`s failed.
run_stage() {
    STAGE_RC=0
    SKIPPED=""
    "stage_$1" || STAGE_RC=1
    [ -z "$SKIPPED" ] || printf '%s %s\n' "$1" "$SKIPPED" >>"$CPKGS_SKIPS"
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
awk 'FILENAME == ARGV[1] { skip[$1] = substr($0, length($1) + 2); next }
     { printf "  %-24s %7.1f  %s\n", $1, $2,
       ($3 != 0 ? "FAILED rc=" $3 : ($1 in skip ? "skipped: " skip[$1] : "ok")) }' "$CPKGS_SKIPS" "$CPKGS_TIMES"
n="$(wc -w <<<"$STAGES")"
skipped="$(wc -l <"$CPKGS_SKIPS")"
echo "stages: $((n - failed - skipped)) passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
