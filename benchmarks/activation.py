"""How much loading a release costs: ``conda activate`` against modules and the plain shell entry.

Usage: ``.venv/bin/python benchmarks/activation.py [--runs N] [--keep]``

For each tree (the test bed's stand-in installer, and real conda's when ``CPKGS_TEST_INSTALLER`` or
``$CPKGS_BUILD/realconda/realconda-26.7.1-Linux-x86_64.sh`` exists) it installs a tree in a scratch directory,
creates ``isis4.3.0`` from the local channel, generates the activation files (``conda_activation``'s logic) and,
in bash, measures one activation of the same environment by each way:

* wall time of the load command alone (bash's ``EPOCHREALTIME`` around it; median of N fresh shells);
* file-system calls on the tree (``strace -f -e trace=%file``, calls between two marker ``stat`` calls whose path
  is under the tree), and how many of them are opens.

Targets (issue "Load a release without starting conda"): at most 10 file-system calls on the tree and 20 ms per
activation, at least 100 times fewer calls than ``conda activate``. Nothing here asserts: it prints the table and
says which targets are met. Needs ``strace`` (Debian package ``strace``), ``lmod`` for Lmod and Environment
Modules' ``modulecmd.tcl`` (``CPKGS_MODULES_TCL``) for Tcl modules; a missing one is reported and skipped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "activation"))

import conftest  # noqa: E402  (the activation tests' tree set-up, reused)

MARK_START = "/cpkgs-benchmark-start"
MARK_END = "/cpkgs-benchmark-end"
LMOD_BASH = Path("/usr/share/lmod/lmod/init/bash")


def installers() -> list[tuple[str, Path]]:
    found = [("stand-in", conftest.STANDIN_INSTALLER)]
    real = Path(os.environ.get("CPKGS_TEST_INSTALLER") or conftest.BUILD / "realconda/realconda-26.7.1-Linux-x86_64.sh")
    if real.is_file():
        found.append(("real conda", real))
    return found


def make_tree(kind: str, installer: Path, base: Path) -> conftest.Tree:
    home = base / "home"
    home.mkdir(parents=True)
    root = base / "conda"
    conftest._run(["sh", "-c", 'umask 022 && exec sh "$0" "$@"', str(installer), "-b", "-p", str(root)], home)
    conda = str(root / "bin" / "conda")
    spec = conftest.RELEASES["isis4.3.0"][0]
    prefix = root / "envs" / "isis4.3.0"
    channel = f"file://{conftest.CHANNEL}"
    conftest._run([conda, "create", "-y", "-q", "-p", str(prefix), "--override-channels", "-c", channel, spec], home)
    (prefix / "conda-meta" / "state").write_text('{"env_vars": {"ISIS_SITE": "astro-share"}}')
    tree = conftest.Tree(kind, root, home, base / "modulefiles")
    _generate(tree)
    return tree


def _generate(tree: conftest.Tree) -> None:
    act = conftest._activation.read_activation(str(tree.env("isis4.3.0")), str(tree.root))
    outputs, _notes = conftest._activation.plan_outputs(
        act,
        str(tree.env("isis4.3.0")),
        ["lmod", "tcl", "sh"],
        module_name="isis/4.3.0",
        modules_dir=str(tree.modules_dir),
        kernel_name="isis4.3.0",
        kernels_dir=str(tree.home / "kernels"),
        display_name="ISIS 4.3.0",
    )
    for output in outputs:
        output.apply()


def methods(tree: conftest.Tree) -> dict[str, tuple[list[str], str] | str]:
    """Per way: (set-up lines, the load command), or why it cannot run here."""
    result: dict[str, tuple[list[str], str] | str] = {
        "conda activate": ([f". '{tree.root}/etc/profile.d/conda.sh'"], "conda activate isis4.3.0"),
    }
    if LMOD_BASH.is_file():
        result["module load (Lmod)"] = (
            [f". '{LMOD_BASH}'", f"module use '{tree.modules_dir}'"],
            "module load isis/4.3.0",
        )
    else:
        result["module load (Lmod)"] = "Lmod not installed (apt-get install lmod)"
    tcl = conftest.tcl_modulecmd()
    if tcl:
        setup = [f'module() {{ eval "$(tclsh \'{tcl}\' bash "$@")"; }}', f"module use '{tree.modules_dir}'"]
        result["module load (Tcl)"] = (setup, "module load isis/4.3.0")
    else:
        result["module load (Tcl)"] = "modulecmd.tcl not found (CPKGS_MODULES_TCL)"
    result["plain entry"] = ([], f". '{tree.env('isis4.3.0')}/etc/cpkgs/activate.sh'")
    return result


def _script(setup: list[str], load: str, out: Path) -> str:
    return (
        "\n".join(
            [
                *setup,
                f"test -e {MARK_START}",
                "_t0=$EPOCHREALTIME",
                load,
                "_t1=$EPOCHREALTIME",
                f"test -e {MARK_END}",
                f"echo \"$_t0 $_t1\" > '{out}'",
                '[ -n "${ISISROOT:-}" ] || { echo "not activated" >&2; exit 9; }',
            ]
        )
        + "\n"
    )


def wall_ms(tree: conftest.Tree, setup: list[str], load: str, runs: int, scratch: Path) -> float:
    times = []
    for run in range(runs):
        out = scratch / f"t{run}"
        script = scratch / "bench.bash"
        script.write_text(_script(setup, load, out))
        conftest._run(["bash", "--norc", "--noprofile", str(script)], tree.home)
        t0, t1 = (float(x) for x in out.read_text().split())
        times.append((t1 - t0) * 1000)
    return statistics.median(times)


def fs_calls(tree: conftest.Tree, setup: list[str], load: str, scratch: Path) -> tuple[int, int]:
    """(file-system calls whose path is under the tree, opens among them) during the load command."""
    log = scratch / "strace.log"
    script = scratch / "bench.bash"
    script.write_text(_script(setup, load, scratch / "t-strace"))
    conftest._run(["strace", "-f", "-qq", "-e", "trace=%file", "-o", str(log), "bash", "--norc", "--noprofile",
                   str(script)], tree.home)  # fmt: skip
    inside = False
    calls = opens = 0
    root = str(tree.root)
    for line in log.read_text(errors="replace").splitlines():
        if MARK_START in line:
            inside = True
            continue
        if MARK_END in line:
            break
        if inside and f'"{root}' in line:
            calls += 1
            opens += " open(" in line or " openat(" in line or line.split(None, 1)[-1].startswith(("open(", "openat("))
    return calls, opens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh shells per measurement (median)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch trees")
    args = parser.parse_args(argv)
    if not shutil.which("strace"):
        print(
            "strace not found: apt-get install strace (scripts/test.sh stage activation installs it)", file=sys.stderr
        )
        return 2
    base = Path(tempfile.mkdtemp(prefix="cpkgs-activation-bench."))
    rows = []
    try:
        for kind, installer in installers():
            tree = make_tree(kind, installer, base / kind.replace(" ", "-"))
            reference = None
            for name, how in methods(tree).items():
                if isinstance(how, str):
                    rows.append((kind, name, None, None, None, how))
                    continue
                setup, load = how
                scratch = base / "scratch" / f"{kind}-{name}".replace(" ", "_").replace("(", "").replace(")", "")
                scratch.mkdir(parents=True)
                ms = wall_ms(tree, setup, load, args.runs, scratch)
                calls, opens = fs_calls(tree, setup, load, scratch)
                if reference is None:
                    reference = (ms, calls)
                rows.append((kind, name, ms, calls, opens, reference))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(
        f"| tree | way | wall ms (median of {args.runs}) | fs calls on tree | opens | fewer calls | faster | targets |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for kind, name, ms, calls, opens, extra in rows:
        if ms is None:
            print(f"| {kind} | {name} | skipped: {extra} | | | | | |")
            continue
        ref_ms, ref_calls = extra
        if name == "conda activate":
            print(f"| {kind} | {name} | {ms:.1f} | {calls} | {opens} | 1x | 1x | reference |")
            continue
        ratio_calls = ref_calls / calls if calls else float("inf")
        ok = calls <= 10 and ms <= 20 and ratio_calls >= 100
        target = "met" if ok else f"NOT met (≤10 calls: {calls <= 10}, ≤20 ms: {ms <= 20}, ≥100x: {ratio_calls >= 100})"
        shown = "∞" if calls == 0 else f"{ratio_calls:.0f}x"
        print(f"| {kind} | {name} | {ms:.1f} | {calls} | {opens} | {shown} | {ref_ms / ms:.0f}x | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
