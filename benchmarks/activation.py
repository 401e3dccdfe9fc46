"""How much loading a release costs: ``conda activate`` against modules and the plain shell entry.

Usage: ``.venv/bin/python benchmarks/activation.py [--runs N] [--keep]``

For each tree (the test bed's stand-in installer, and real conda's when ``CPKGS_TEST_INSTALLER`` or
``$CPKGS_BUILD/realconda/realconda-26.7.1-Linux-x86_64.sh`` exists) it installs a tree in a scratch directory,
creates ``isis4.3.0`` from the local channel, generates the activation files (``conda_activation``'s logic) and,
in bash, measures one activation of the same environment by each way:

* wall time of the load command alone (bash's ``EPOCHREALTIME`` around it; median and minimum of N fresh shells,
  the ways interleaved so that other work on the machine slows them alike; the minimum is the cost on an idle
  machine);
* file-system calls on the tree (``strace -f -e trace=%file``, calls between two marker ``stat`` calls whose path
  is under the tree), and how many of them are opens.

Modules are measured three ways: with the modulefiles the module writes (the activate.d scripts' effect captured
at generation, no shell at load), with modulefiles that run the scripts at each load (``source_sh`` /
``source-sh``, what the module writes for a script it cannot capture), and loading a trivial modulefile (one
``setenv``, outside the tree): the module tool's fixed start-up, which no modulefile can remove. A second table
splits each load into that start-up and the modulefile's own cost.

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
    _generate(tree, capture=True)
    _generate(tree, capture=False)
    trivial = base / "trivial-modulefiles" / "trivial"
    trivial.mkdir(parents=True)
    (trivial / "1.lua").write_text('setenv("CPKGS_TRIVIAL", "1")\n')
    (trivial / "1").write_text("#%Module1.0\nsetenv CPKGS_TRIVIAL 1\n")
    return tree


def _generate(tree: conftest.Tree, *, capture: bool) -> None:
    act = conftest._activation.read_activation(str(tree.env("isis4.3.0")), str(tree.root))
    outputs, _notes = conftest._activation.plan_outputs(
        act,
        str(tree.env("isis4.3.0")),
        ["lmod", "tcl", "sh"] if capture else ["lmod", "tcl"],
        module_name="isis/4.3.0",
        modules_dir=str(tree.modules_dir if capture else tree.sourced_modules_dir),
        kernel_name="isis4.3.0",
        kernels_dir=str(tree.home / "kernels"),
        display_name="ISIS 4.3.0",
        run_command=conftest.run_argv if capture else None,
    )
    for output in outputs:
        output.apply()


TRIVIAL = "trivial modulefile"
SOURCED = "scripts run at load"


def methods(tree: conftest.Tree) -> dict[str, tuple[list[str], str, str] | str]:
    """Per way: (set-up lines, the load command, a variable it must set), or why it cannot run here."""
    result: dict[str, tuple[list[str], str, str] | str] = {
        "conda activate": ([f". '{tree.root}/etc/profile.d/conda.sh'"], "conda activate isis4.3.0", "ISISROOT"),
    }
    trivial_dir = tree.root.parent / "trivial-modulefiles"
    dirs = {"": tree.modules_dir, f", {SOURCED}": tree.sourced_modules_dir, f", {TRIVIAL}": trivial_dir}
    tcl = conftest.tcl_modulecmd()
    for tool, init in (
        ("Lmod", [f". '{LMOD_BASH}'"]),
        ("Tcl", [f'module() {{ eval "$(tclsh \'{tcl}\' bash "$@")"; }}']),
    ):
        for suffix, directory in dirs.items():
            name = f"module load ({tool}{suffix})"
            if tool == "Lmod" and not LMOD_BASH.is_file():
                result[name] = "Lmod not installed (apt-get install lmod)"
            elif tool == "Tcl" and not tcl:
                result[name] = "modulecmd.tcl not found (CPKGS_MODULES_TCL)"
            elif directory == trivial_dir:
                result[name] = ([*init, f"module use '{directory}'"], "module load trivial/1", "CPKGS_TRIVIAL")
            else:
                result[name] = ([*init, f"module use '{directory}'"], "module load isis/4.3.0", "ISISROOT")
    result["plain entry"] = ([], f". '{tree.env('isis4.3.0')}/etc/cpkgs/activate.sh'", "ISISROOT")
    return result


def _script(setup: list[str], load: str, out: Path, check: str = "ISISROOT") -> str:
    return (
        "\n".join(
            [
                *setup,
                f"times > '{out}.cpu0'",
                f"test -e {MARK_START}",
                "_t0=$EPOCHREALTIME",
                load,
                "_t1=$EPOCHREALTIME",
                f"test -e {MARK_END}",
                f"times > '{out}.cpu1'",
                f"echo \"$_t0 $_t1\" > '{out}'",
                f'[ -n "${{{check}:-}}" ] || {{ echo "not activated" >&2; exit 9; }}',
            ]
        )
        + "\n"
    )


def _cpu_seconds(path: Path) -> float:
    """The sum of bash's ``times`` (the shell's and its children's user and system time)."""
    total = 0.0
    for field in path.read_text().split():
        minutes, _m, seconds = field.rstrip("s").partition("m")
        total += int(minutes) * 60 + float(seconds)
    return total


def wall_ms_once(tree: conftest.Tree, how: tuple[list[str], str, str], scratch: Path, run: int) -> tuple[float, float]:
    """Wall time and CPU time (user + system, the shell and its children) of one load in a fresh bash, in ms."""
    setup, load, check = how
    out = scratch / f"t{run}"
    script = scratch / "bench.bash"
    script.write_text(_script(setup, load, out, check))
    conftest._run(["bash", "--norc", "--noprofile", str(script)], tree.home)
    t0, t1 = (float(x) for x in out.read_text().split())
    cpu = _cpu_seconds(Path(f"{out}.cpu1")) - _cpu_seconds(Path(f"{out}.cpu0"))
    return (t1 - t0) * 1000, cpu * 1000


def fs_calls(tree: conftest.Tree, how: tuple[list[str], str, str], scratch: Path) -> tuple[int, int]:
    """(file-system calls whose path is under the tree, opens among them) during the load command."""
    setup, load, check = how
    log = scratch / "strace.log"
    script = scratch / "bench.bash"
    script.write_text(_script(setup, load, scratch / "t-strace", check))
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


def measure(kind: str, installer: Path, base: Path, runs: int, *, rows: list, best: dict) -> None:
    """Rows of one tree: (kind, way, median ms, fs calls, opens, the reference's (ms, calls)); minimums in best."""
    tree = make_tree(kind, installer, base / kind.replace(" ", "-"))
    ways = methods(tree)
    scratch = {name: base / "scratch" / "".join(c if c.isalnum() else "_" for c in f"{kind}-{name}") for name in ways}
    times: dict[str, list[float]] = {name: [] for name in ways}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    for run in range(runs):  # interleaved, so a busy machine slows every way alike
        for name, how in ways.items():
            if not isinstance(how, str):
                scratch[name].mkdir(parents=True, exist_ok=True)
                wall, used = wall_ms_once(tree, how, scratch[name], run)
                times[name].append(wall)
                cpu[name].append(used)
    reference = None
    for name, how in ways.items():
        if isinstance(how, str):
            rows.append((kind, name, None, None, None, how))
            continue
        ms = statistics.median(times[name])
        best[(kind, name)] = min(times[name])
        best[(kind, name, "cpu")] = statistics.median(cpu[name])
        calls, opens = fs_calls(tree, how, scratch[name])
        if reference is None:
            reference = (ms, calls)
        rows.append((kind, name, ms, calls, opens, reference))


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
    best: dict[tuple[str, str], float] = {}
    try:
        for kind, installer in installers():
            measure(kind, installer, base, args.runs, rows=rows, best=best)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(
        f"| tree | way | wall ms (median of {args.runs}) | min ms | CPU ms (median) | fs calls on tree | opens "
        "| fewer calls | faster | targets (median) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind, name, ms, calls, opens, extra in rows:
        if ms is None:
            print(f"| {kind} | {name} | skipped: {extra} | | | | | | | |")
            continue
        ref_ms, ref_calls = extra
        low = best[(kind, name)]
        low = f"{low:.1f} | {best[(kind, name, 'cpu')]:.0f}"
        if name == "conda activate":
            print(f"| {kind} | {name} | {ms:.1f} | {low} | {calls} | {opens} | 1x | 1x | reference |")
            continue
        if TRIVIAL in name:
            print(f"| {kind} | {name} | {ms:.1f} | {low} | {calls} | {opens} | | | the tool's fixed start-up |")
            continue
        ratio_calls = ref_calls / calls if calls else float("inf")
        ok = calls <= 10 and ms <= 20 and ratio_calls >= 100
        target = "met" if ok else f"NOT met (≤10 calls: {calls <= 10}, ≤20 ms: {ms <= 20}, ≥100x: {ratio_calls >= 100})"
        shown = "∞" if calls == 0 else f"{ratio_calls:.0f}x"
        print(f"| {kind} | {name} | {ms:.1f} | {low} | {calls} | {opens} | {shown} | {ref_ms / ms:.0f}x | {target} |")
    print_split(rows, best)
    return 0


def print_split(rows: list, best: dict) -> None:
    """Each module load as the tool's fixed start-up (the trivial modulefile) plus the modulefile's own cost."""
    times = {(kind, name): ms for kind, name, ms, _calls, _opens, _extra in rows if ms is not None}
    print()
    print(
        "| tree | way | load ms (median; min) | tool start-up ms (trivial modulefile; median; min) "
        "| modulefile's own ms (median; min) | CPU ms: load, start-up, modulefile's own | over 20 ms by (min) |"
    )
    print("|---|---|---|---|---|---|---|")
    for (kind, name), ms in times.items():
        if not name.startswith("module load") or TRIVIAL in name:
            continue
        tool = name[len("module load (") :].split(",")[0].rstrip(")")
        trivial = (kind, f"module load ({tool}, {TRIVIAL})")
        if trivial not in times:
            continue
        fixed, low, fixed_low = times[trivial], best[(kind, name)], best[trivial]
        cpu, fixed_cpu = best[(kind, name, "cpu")], best[(*trivial, "cpu")]
        over = f"{low - 20:.1f} ms" if low > 20 else "met"
        print(
            f"| {kind} | {name} | {ms:.1f}; {low:.1f} | {fixed:.1f}; {fixed_low:.1f} | {ms - fixed:.1f}; "
            f"{low - fixed_low:.1f} | {cpu:.0f}, {fixed_cpu:.0f}, {cpu - fixed_cpu:.0f} | {over} |"
        )


if __name__ == "__main__":
    sys.exit(main())
