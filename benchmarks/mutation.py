"""How many of mutmut's mutants of the collection's Python code the unit tests kill.

Mutation testing changes the code one small step at a time (a ``<`` into ``<=``, a ``True`` into ``False``, an
argument dropped) and runs the unit tests that reach the changed function: a mutant the tests do not notice
("survived") is a change of behaviour nobody would be told about. This script:

1. makes a venv of its own with mutmut (pinned below), the ansible-core and ruamel.yaml of
   ``requirements/test.txt``, and pytest (mutmut is not in the project's venv: it is a tool, not a test);
2. copies the files git knows (tracked and new, not ignored: uncommitted tests count) to
   ``WORK/ansible_collections/cpkgs/conda`` with a ``setup.cfg`` naming what to mutate, outside the checkout,
   since mutmut writes a ``mutants/`` directory beside the code it mutates;
3. runs ``mutmut run --max-children N`` there (1 worker by default: the machines have 2 cores);
4. prints, per file, killed / survived / no tests (no unit test reaches the function) / other (timeouts,
   crashes) / not run / total, and the two scores next to the
   targets of issue #10: >= 90 % killed in ``module_utils`` + ``plugin_utils``, >= 80 % over all of
   ``plugins/`` (``module_utils``, ``plugin_utils``, ``modules``, ``action``), as ratios to the targets.

Not run in CI: a full run (about 9,900 mutants) takes about an hour on one idle core, several on a busy one.
Rerun:

    .venv/bin/python benchmarks/mutation.py [--work /tmp/cpkgs-mutation] [--files plugins/module_utils/_tree.py ...]
                                            [--ref HEAD] [--sample 37] [--max-children 1] [--report-only]

``--files`` mutates only the files named (a per-file measurement, much quicker); ``--ref`` measures a commit
instead of the work tree (others' unfinished changes left out); ``--sample 37`` runs the mutants whose number
ends in 3 or 7 (a fifth, spread over every function: an estimate when a full run does not fit, about an hour on
one idle core and much longer on a busy one); ``--report-only`` prints the
figures of an earlier run in ``--work`` again; ``--survivors`` lists the surviving mutants' names after the
figures (then ``VENV/bin/mutmut show NAME`` in ``WORK`` prints each one's change). ``mutants/`` under ``--work`` is
kept for ``mutmut results`` / ``mutmut show NAME`` (run them in ``WORK`` with ``VENV/bin/mutmut``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TMP = Path(tempfile.gettempdir())
MUTMUT = "mutmut==3.8.1"
NAMESPACE = Path("ansible_collections/cpkgs/conda")
# What is mutated: the logic, the modules and the action plugin (doc fragments hold no code).
SCOPE = ("plugins/module_utils", "plugins/plugin_utils", "plugins/modules", "plugins/action")
TARGETS = (
    ("module_utils + plugin_utils", ("plugins/module_utils/", "plugins/plugin_utils/"), 0.90),
    ("all of plugins/", ("plugins/",), 0.80),
)
# mutmut's exit codes of a test run against a mutant (mutmut/stats.py): 1 and 3 kill it, 0 lets it live, 5 and
# 33 mean no test reaches its function, None that it has not been tried yet; the rest (timeouts, crashes) count
# as not killed.
KILLED = {1, 3}
SURVIVED = {0}
NO_TESTS = {5, 33}
COLUMNS = ("killed", "survived", "no tests", "other", "not run")


def pinned(requirement: str) -> str:
    """``name==version`` as requirements/test.txt pins it."""
    for line in (REPO / "requirements" / "test.txt").read_text().splitlines():
        if re.match(rf"{re.escape(requirement)}\s*==", line):
            return line.split("#")[0].strip()
    raise SystemExit(f"requirements/test.txt pins no {requirement}")


def make_venv(venv: Path) -> Path:
    mutmut = venv / "bin" / "mutmut"
    wanted = [MUTMUT, pinned("ansible-core"), pinned("ruamel.yaml"), pinned("pytest")]
    stamp = venv / "cpkgs-requirements.txt"
    if mutmut.exists() and stamp.exists() and stamp.read_text().split() == wanted:
        return mutmut
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *wanted], check=True)
    stamp.write_text("\n".join(wanted) + "\n")
    return mutmut


def copy_checkout(work: Path, files: list[str], ref: str | None = None) -> None:
    """The collection into WORK/ansible_collections/cpkgs/conda (the files git knows in the work tree, or the
    commit ``ref``), and mutmut's setup.cfg into WORK."""
    if work.exists():
        shutil.rmtree(work)
    target = work / NAMESPACE
    target.mkdir(parents=True)
    git = shutil.which("git") or "/usr/bin/git"
    if ref:
        archive = subprocess.run([git, "archive", ref], cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run([shutil.which("tar") or "/bin/tar", "-x", "-C", str(target)], input=archive, check=True)
    else:
        listed = subprocess.run(
            [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            check=True,
            capture_output=True,
        ).stdout.decode()
        for name in filter(None, listed.split("\0")):
            source = REPO / name
            if not source.is_file():
                continue  # deleted in the work tree, not yet in git
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name, follow_symlinks=False)
    paths = files or [path for path in SCOPE if (target / path).is_dir()]
    lines = [
        "[mutmut]",
        "source_paths =",
        *(f"    {NAMESPACE / path}" for path in paths),
        # The rest of the collection (tests, roles the tests read, doc fragments) goes beside the mutants.
        "also_copy =",
        f"    {NAMESPACE}",
        "pytest_add_cli_args_test_selection =",
        f"    {NAMESPACE / 'tests' / 'unit'}",
        "pytest_add_cli_args =",
        "    -p",
        "    no:cacheprovider",
        "",
    ]
    (work / "setup.cfg").write_text("\n".join(lines))


def tally(work: Path) -> dict[str, Counter]:
    """Per mutated file (path inside the collection): Counter of the COLUMNS and the total."""
    counts: dict[str, Counter] = {}
    root = work / "mutants" / NAMESPACE
    for meta in sorted(root.rglob("*.py.meta")):
        name = str(meta.relative_to(root))[: -len(".meta")]
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        counter = Counter()
        for code in codes.values():
            if code is None:
                counter["not run"] += 1
            elif code in KILLED:
                counter["killed"] += 1
            elif code in SURVIVED:
                counter["survived"] += 1
            else:
                counter["no tests" if code in NO_TESTS else "other"] += 1
        counter["total"] = len(codes)
        if counter["total"]:
            counts[name] = counter
    return counts


def survivors(work: Path) -> list[str]:
    """The names of the mutants that survived (for ``mutmut show NAME``), sorted."""
    root = work / "mutants" / NAMESPACE
    names = []
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        names += [name for name, code in codes.items() if code in SURVIVED]
    return sorted(names)


def _tried(counter: Counter) -> int:
    return counter["total"] - counter["not run"]


def report(counts: dict[str, Counter]) -> int:
    """Per file, then the two scores against their targets; scores are over the mutants run (all, without
    ``--sample`` and when the run finished)."""
    if not counts:
        print("no mutants found: did mutmut run?")
        return 1
    width = max(len(name) for name in counts)
    print(f"{'file':<{width}}  " + "  ".join(f"{column:>8}" for column in (*COLUMNS, "total", "killed %")))
    ordered = sorted(counts.items(), key=lambda item: item[1]["killed"] / max(_tried(item[1]), 1))
    for name, counter in ordered:
        cells = [counter[column] for column in (*COLUMNS, "total")]
        score = f"{counter['killed'] / _tried(counter):>8.1%}" if _tried(counter) else f"{'-':>8}"
        print(f"{name:<{width}}  " + "  ".join(f"{cell:>8}" for cell in cells) + f"  {score}")
    pending = sum(counter["not run"] for counter in counts.values())
    if pending:
        print(f"\n{pending} mutants not run (a sample, or a run cut short): the scores are over the mutants run")
    print()
    for label, prefixes, target in TARGETS:
        chosen = [counter for name, counter in counts.items() if name.startswith(prefixes)]
        killed = sum(counter["killed"] for counter in chosen)
        tried = sum(_tried(counter) for counter in chosen)
        if not tried:
            continue
        score = killed / tried
        print(
            f"{label}: {killed} of {tried} killed = {score:.1%}; target {target:.0%}; "
            f"ratio to target {score / target:.2f} ({'met' if score >= target else 'not met'})"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=TMP / "cpkgs-mutation", help="the copy mutmut runs in")
    parser.add_argument("--venv", type=Path, default=TMP / "cpkgs-mutmut-venv", help="mutmut's own venv")
    parser.add_argument("--files", nargs="*", default=[], help="mutate only these (paths inside the repo)")
    parser.add_argument("--ref", help="measure this commit (default: the work tree, uncommitted files too)")
    parser.add_argument(
        "--sample",
        default="",
        help="run only the mutants whose number ends in one of these digits ('37': a fifth of them, spread over "
        "every function); the scores are then over the mutants run",
    )
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument("--report-only", action="store_true", help="print the figures of the run in --work")
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants after the figures")
    args = parser.parse_args()
    work = args.work.resolve()
    if work == REPO or REPO in work.parents:
        raise SystemExit("--work must be outside the checkout (mutmut writes mutants/ there)")
    if not args.report_only:
        for name in args.files:
            if not (REPO / name).is_file() or not name.startswith("plugins/"):
                raise SystemExit(f"--files: no file {name!r} under plugins/")
        mutmut = make_venv(args.venv.resolve())
        copy_checkout(work, args.files, args.ref)
        environ = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
        if args.sample and not args.sample.isdigit():
            raise SystemExit(f"--sample: digits, got {args.sample!r}")
        patterns = [f"*{digit}" for digit in sorted(set(args.sample))]
        command = [str(mutmut), "run", "--max-children", str(args.max_children), *patterns]
        proc = subprocess.run(command, cwd=work, env=environ, check=False)
        if proc.returncode:
            print(f"mutmut run exited {proc.returncode}", file=sys.stderr)
    status = report(tally(work))
    if args.survivors:
        print("\nsurvivors (VENV/bin/mutmut show NAME, in --work):")
        print("\n".join(f"  {name}" for name in survivors(work)) or "  none")
    return status


if __name__ == "__main__":
    sys.exit(main())
