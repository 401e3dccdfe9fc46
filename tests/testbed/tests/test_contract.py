"""The conda stand-in against real conda 26.7.1: recorded samples (tests/testbed/contract/*.json) and, with
``CPKGS_TEST_CONDA_EXE``, a real conda run side by side.

Each scenario is a command the collection runs (``EnvManager`` in plugins/module_utils/_conda_env.py) in a
state it meets: new, existing, missing, frozen (with and without ``--override-frozen`` /
``CONDA_PROTECT_FROZEN_ENVS=false``), root-owned and run by an unprivileged account. It runs in a fresh
temporary tree against the contract channel.

* ``test_sample_shape``: the stand-in's output has the recorded sample's shape (same keys, same value types,
  recursively; list elements compared with the shape of the sample's elements; ``null`` in a sample accepts
  ``null`` or a string), the expected rc and the sample's ``exception_name``. Mappings keyed by paths
  (``envs_details``, ``env_vars``) are compared by their values. No output at all is the sample ``null``.
* ``test_both_sides`` (only with ``CPKGS_TEST_CONDA_EXE=/path/to/conda``): the same scenario on the stand-in
  and on that conda, in the same test; rc, ``exception_name``, the JSON shape and the package names in
  ``actions.LINK``/``UNLINK`` must agree. ``CPKGS_CONTRACT_RECORD=1`` writes real conda's output as the
  sample of a scenario that has none (paths rewritten as contract/README.md says).
* ``AFTER``: facts checked on each side after the run (sorted env list, names, ``created_at`` ...).
* ``DEVIATIONS``: scenarios where the stand-in is known to differ: ``test_both_sides`` is xfail(strict).

A sample without a scenario, or a scenario without a sample, fails the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standin"))

from standin_testing import CONTRACT_DIR, Result, Tree, conda_exe, contract_channel, system_python_usable

SAMPLES = sorted(path.stem for path in CONTRACT_DIR.glob("*.json"))
#: Dicts keyed by paths or variable names: their values are compared, not their keys.
MAPPINGS = {"envs_details", "env_vars"}

Shape = object


# ------------------------------------------------------------------------------------------- shapes


def shape_of(value: object, key: str = "") -> Shape:
    """A value's shape: a set of type names for scalars, ``{"dict": ...}``, ``{"list": ...}``, ``{"map": ...}``."""
    if isinstance(value, dict):
        if key in MAPPINGS:
            return {"map": _merge_all([shape_of(v) for v in value.values()])}
        return {"dict": {k: shape_of(v, k) for k, v in value.items()}}
    if isinstance(value, list):
        return {"list": _merge_all([shape_of(v) for v in value])}
    return {type(value).__name__}


def _merge_all(shapes: list[Shape]) -> Shape | None:
    merged: Shape | None = None
    for shape in shapes:
        merged = shape if merged is None else merge(merged, shape)
    return merged


def merge(a: Shape, b: Shape) -> Shape:
    """The shape allowing both ``a`` and ``b`` (union of scalar types, key-wise for dicts)."""
    if isinstance(a, set) and isinstance(b, set):
        return a | b
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        kind = next(iter(a))
        if kind == "dict":
            keys = a["dict"].keys() | b["dict"].keys()
            return {"dict": {k: merge(a["dict"].get(k, {"missing"}), b["dict"].get(k, {"missing"})) for k in keys}}
        inner = [s for s in (a[kind], b[kind]) if s is not None]
        return {kind: _merge_all(inner)}
    raise AssertionError(f"sample mixes shapes {a!r} and {b!r}")


def shape_errors(value: object, shape: Shape | None, where: str = "$") -> list[str]:
    """Differences between a value and a sample shape (empty list: it conforms)."""
    if shape is None:  # elements of an empty sample list: anything goes
        return []
    if isinstance(shape, set):
        allowed = set(shape)
        if allowed == {"NoneType"}:
            allowed.add("str")
        name = type(value).__name__
        return [] if name in allowed else [f"{where}: {name} where the sample has {sorted(shape)}"]
    kind = next(iter(shape))
    if kind == "dict":
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} where the sample has an object"]
        errors = []
        missing, extra = shape["dict"].keys() - value.keys(), value.keys() - shape["dict"].keys()
        if missing:
            errors.append(f"{where}: missing keys {sorted(missing)}")
        if extra:
            errors.append(f"{where}: extra keys {sorted(extra)}")
        for key in shape["dict"].keys() & value.keys():
            errors += shape_errors(value[key], shape["dict"][key], f"{where}.{key}")
        return errors
    expected = dict if kind == "map" else list
    if not isinstance(value, expected):
        return [f"{where}: {type(value).__name__} where the sample has a {expected.__name__}"]
    items = value.items() if kind == "map" else enumerate(value)
    return [err for k, v in items for err in shape_errors(v, shape[kind], f"{where}[{k!r}]")]


def sample(name: str) -> object:
    return json.loads((CONTRACT_DIR / f"{name}.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------- scenarios

#: The account unprivileged scenarios run as (``nobody``); those scenarios need root to switch to it.
NOBODY = 65534


class Bed:
    """A temporary tree and the commands the collection runs, on one side: the stand-in (``exe`` None) or a
    real conda (``exe``: its path). Real conda keeps its own root prefix; ``-p`` prefixes, ``CONDARC``,
    ``CONDA_PKGS_DIRS`` and ``CONDA_ENVS_DIRS`` point into ``base`` on both sides."""

    def __init__(self, base: Path, channel: str, exe: str | None) -> None:
        self.base = base
        self.channel = channel
        self.exe = exe
        self.envs = base / "envs"
        self.tree = Tree(
            base,
            exe=exe,
            extra_env={"CONDA_PKGS_DIRS": str(base / "pkgs"), "CONDA_ENVS_DIRS": str(self.envs)},
        )
        if not exe:  # the installer's tree has a conda-meta/history, as a constructor-made one
            (self.tree.root / "conda-meta" / "history").touch()

    @property
    def root(self) -> Path:
        """The root prefix of this side."""
        return Path(self.exe).resolve().parents[1] if self.exe else self.tree.root

    def prefix(self, name: str) -> str:
        return str(self.envs / name)

    def run(self, *args: str, env: dict[str, str] | None = None, user: int | None = None) -> Result:
        return self.tree.run(*args, env=env, user=user)

    def chans(self) -> tuple[str, ...]:
        return ("--offline", "--override-channels", "-c", self.channel)

    def create(self, name: str, *specs: str, extra: tuple[str, ...] = ()) -> Result:
        return self.run("create", "-p", self.prefix(name), *self.chans(), *specs, *extra, "-y", "--json")

    def install(self, name: str, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.run("install", "-p", self.prefix(name), *self.chans(), *args, "--json", env=env)

    def created(self, name: str, *specs: str) -> Bed:
        result = self.create(name, *specs)
        assert result.rc == 0, result
        return self

    def frozen(self, name: str, *specs: str) -> Bed:
        """A new env marked frozen (CEP 22) with a reason, as the collection's ``frozen: true`` writes it."""
        self.created(name, *specs)
        (self.envs / name / "conda-meta" / "frozen").write_text('{"message": "release env"}\n')
        return self

    def env_file(self, *deps: str) -> str:
        path = self.base / "environment.yml"
        lines = ["channels:", f"  - {self.channel}", "dependencies:", *(f"  - {dep}" for dep in deps)]
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    def lockfile(self, *dists: str) -> str:
        path = self.base / "lock.txt"
        path.write_text("@EXPLICIT\n" + "".join(f"{self.channel}/noarch/{dist}.conda\n" for dist in dists))
        return str(path)

    def as_nobody(self, *args: str) -> Result:
        """Run as the unprivileged account on this bed's root-owned envs (its own HOME and package cache)."""
        if os.geteuid() != 0:
            pytest.skip("switching to an unprivileged account needs root")
        if not self.exe and not system_python_usable():
            pytest.skip("the system python cannot run the stand-in for another account")
        home, pkgs = self.base / "nobody-home", self.base / "nobody-pkgs"
        for path in (home, pkgs):
            path.mkdir(exist_ok=True)
            os.chown(path, NOBODY, NOBODY)
        env = {"HOME": str(home), "CONDA_PKGS_DIRS": str(pkgs), "CONDARC": str(home / "condarc")}
        return self.run(*args, env=env, user=NOBODY)


def _create_rattler(bed: Bed) -> Result:
    bed.created("e1", "pkga")
    result = bed.create("e4", "pkga", extra=("--solver", "rattler"))
    if bed.exe and result.rc != 0:
        pytest.skip("this conda has no rattler solver (conda-rattler-solver)")
    return result


def _env_update(bed: Bed, *deps: str, prune: bool = False) -> Result:
    bed.created("e1", "pkga=1.0")
    args = ("env", "update", "-p", bed.prefix("e1"), "--file", bed.env_file(*deps), "--json")
    return bed.run(*args, *(("--prune",) if prune else ()))


SCENARIOS: dict[str, Callable[[Bed], Result]] = {
    # create (EnvManager._create), also over an existing env (lockfile rebuild) and as a check-mode dry run
    "create": lambda bed: bed.create("e1", "pkga"),
    "create_exists": lambda bed: bed.created("e1", "pkga").create("e1", "pkga"),
    "create_fail": lambda bed: bed.create("e1", "nosuchpkg"),
    "create_rattlersolver": _create_rattler,
    "create_dryrun_new": lambda bed: bed.create("e1", "pkga", extra=("--dry-run",)),
    "create_dryrun_exists": lambda bed: bed.created("e1", "pkga").create("e1", "pkga", extra=("--dry-run",)),
    "create_lockfile": lambda bed: bed.run(
        "create", "-p", bed.prefix("e1"), "--file", bed.lockfile("pkgc-1.0-0"), "-y", "--json"
    ),
    "create_lockfile_exists": lambda bed: bed.created("e1", "pkga").run(
        "create", "-p", bed.prefix("e1"), "--file", bed.lockfile("pkgc-1.0-0"), "-y", "--json"
    ),
    # install (EnvManager._update): dry run first, then the change
    "dryrun_change": lambda bed: bed.created("e1", "pkga").install("e1", "pkga=1.0", "--dry-run"),
    "dryrun_noop": lambda bed: bed.created("e1", "pkga").install("e1", "pkga", "--dry-run"),
    "r1_downgrade": lambda bed: bed.created("r1", "pkga").install("r1", "pkga=1.0", "-y"),
    "install_update_deps": lambda bed: bed.created("e1", "pkga=1.0").install(
        "e1", "pkgb", "--update-deps", "--dry-run", "-y"
    ),
    "install_missing": lambda bed: bed.install("nope", "pkga", "--dry-run", "-y"),
    # a frozen env (CEP 22): refused, dry runs included, unless --override-frozen or protect_frozen_envs=false
    "frozen_install_dryrun": lambda bed: bed.frozen("e1", "pkga").install("e1", "pkga=1.0", "--dry-run", "-y"),
    "frozen_install_override": lambda bed: bed.frozen("e1", "pkga").install(
        "e1", "pkga=1.0", "--dry-run", "-y", "--override-frozen"
    ),
    "frozen_install_envvar": lambda bed: bed.frozen("e1", "pkga").install(
        "e1", "pkga=1.0", "-y", env={"CONDA_PROTECT_FROZEN_ENVS": "false"}
    ),
    "frozen_remove_all": lambda bed: bed.frozen("e2", "pkgc").run(
        "remove", "-p", bed.prefix("e2"), "--all", "-y", "--json"
    ),
    "frozen_env_update": lambda bed: bed.frozen("e1", "pkga").run(
        "env", "update", "-p", bed.prefix("e1"), "--file", bed.env_file("pkga=1.0"), "--json"
    ),
    "frozen_create": lambda bed: bed.frozen("e1", "pkga").create("e1", "pkgc"),
    # environment files (EnvManager._create / _update_file)
    "env_create": lambda bed: bed.run(
        "env", "create", "-p", bed.prefix("e1"), "--file", bed.env_file("pkga"), "-y", "--json"
    ),
    "env_update": lambda bed: _env_update(bed, "pkga=2.0"),
    "env_update_prune": lambda bed: _env_update(bed, "pkgc", prune=True),
    # remove (EnvManager._absent)
    "remove_all": lambda bed: bed.created("e2", "pkgc").run("remove", "-p", bed.prefix("e2"), "--all", "-y", "--json"),
    "remove_missing": lambda bed: bed.run("remove", "-p", bed.prefix("nope"), "--all", "-y", "--json"),
    # a root-owned env and an unprivileged user
    "readonly_install_dryrun": lambda bed: bed.created("e1", "pkga").as_nobody(
        "install", "-p", bed.prefix("e1"), *bed.chans(), "pkga=1.0", "--dry-run", "-y", "--json"
    ),
    "readonly_remove_all": lambda bed: bed.created("e1", "pkga").as_nobody(
        "remove", "-p", bed.prefix("e1"), "--all", "-y", "--json"
    ),
    "readonly_list": lambda bed: bed.created("e1", "pkga").as_nobody("list", "-p", bed.prefix("e1"), "--json"),
    # reading
    "list": lambda bed: bed.created("e1", "pkga").run("list", "-p", bed.prefix("e1"), "--json"),
    "list_r1": lambda bed: bed.created("r1", "pkga").run("list", "-p", bed.prefix("r1"), "--json"),
    "envlist": lambda bed: bed.created("e1", "pkga").run("env", "list", "--json"),
    "envlist_frozen": lambda bed: bed.frozen("e1", "pkga").run("env", "list", "--json"),
    "info": lambda bed: bed.created("e1", "pkga").run("info", "--json"),
}
EXPECTED_RC = {
    "create_fail": 1,
    "create_dryrun_exists": 1,
    "install_missing": 1,
    "remove_missing": 1,
    "frozen_install_dryrun": 1,
    "frozen_remove_all": 1,
    "frozen_env_update": 1,
    "readonly_install_dryrun": 1,
    "readonly_remove_all": 1,
}


def _listed(bed: Bed, doc: object, env: str, **expected: object) -> list[str]:
    envs = doc["envs"]  # type: ignore[index]
    details = doc["envs_details"][bed.prefix(env)]  # type: ignore[index]
    errors = [] if envs == sorted(envs) else [f"envs not sorted: {envs}"]
    errors += [
        f"{key}: {details[key]!r}, expected {value!r}" for key, value in expected.items() if details[key] != value
    ]
    return errors


def _created_at(bed: Bed, name: str) -> list[str]:
    stamp = bed.envs / name / "conda-meta" / "created_at"
    try:
        float(stamp.read_text())
    except (OSError, ValueError) as exc:
        return [f"conda-meta/created_at: {exc}"]
    return []


#: Facts checked after the run on each side (besides rc, exception and shape): ``(bed, output) -> errors``.
AFTER: dict[str, Callable[[Bed, object], list[str]]] = {
    "create": lambda bed, doc: _created_at(bed, "e1"),
    "envlist": lambda bed, doc: _listed(bed, doc, "e1", name="e1", frozen=False, writable=True),
    "envlist_frozen": lambda bed, doc: _listed(bed, doc, "e1", name="e1", frozen=True),
    "frozen_create": lambda bed, doc: (
        [] if not (bed.envs / "e1" / "conda-meta" / "frozen").exists() else ["still frozen"]
    ),
    "create_lockfile": lambda bed, doc: (
        [] if any((bed.envs / "e1" / "conda-meta").glob("pkgc-1.0-0.json")) else ["no pkgc"]
    ),
}

#: Where the stand-in knowingly differs from real conda 26.7.1 in what these tests compare: the comparison of
#: that scenario with real conda is expected to fail (xfail, strict: a deviation that disappears is noticed).
DEVIATIONS: dict[str, str] = {}


@pytest.fixture(scope="module")
def channel() -> str:
    return contract_channel()


@pytest.fixture
def bed_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Path]]:
    """Directories for beds that an unprivileged account can traverse (pytest's own are 0700)."""
    made: list[Path] = []

    def make(tag: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"cpkgs-contract-{tag}-"))
        path.chmod(0o755)
        made.append(path)
        return path

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


def output(result: Result) -> object:
    """The JSON a run printed; ``None`` for no output at all (conda's ``create --file LOCKFILE --json``)."""
    return None if not result.stdout.strip() else result.json


def run_scenario(name: str, bed: Bed) -> Result:
    """Run one scenario and check its rc (the expected one) and its :data:`AFTER` facts."""
    result = SCENARIOS[name](bed)
    assert result.rc == EXPECTED_RC.get(name, 0), result
    if name in AFTER:
        errors = AFTER[name](bed, output(result))
        assert not errors, f"{'conda' if bed.exe else 'stand-in'}: " + "; ".join(errors)
    return result


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_shape(name: str, channel: str, bed_base: Callable[[str], Path]) -> None:
    """The stand-in prints what the recorded sample shows, shape for shape, with its rc and exception."""
    if name not in SCENARIOS:
        pytest.fail(f"contract sample {name}.json has no scenario in test_contract.py: add one")
    result = run_scenario(name, Bed(bed_base("standin"), channel, None))
    expected = sample(name)
    errors = shape_errors(output(result), shape_of(expected))
    assert not errors, "\n".join(errors)
    if isinstance(expected, dict) and "exception_name" in expected:
        assert output(result)["exception_name"] == expected["exception_name"]  # type: ignore[index]


def action_names(doc: object) -> dict[str, list[str]]:
    """The sorted package names in ``actions.LINK`` and ``actions.UNLINK`` (empty when there are none)."""
    actions = doc.get("actions") if isinstance(doc, dict) else None
    if not isinstance(actions, dict):
        return {"LINK": [], "UNLINK": []}
    return {key: sorted(str(entry["name"]) for entry in actions.get(key) or []) for key in ("LINK", "UNLINK")}


def compare_sides(standin: Result, real: Result) -> list[str]:
    """What differs between the stand-in's and real conda's run of one scenario (empty: they agree)."""
    if standin.rc != real.rc:
        return [f"rc: stand-in {standin.rc}, conda {real.rc}: {standin!r} / {real!r}"]
    mine, theirs = output(standin), output(real)
    errors = [f"shape: {error}" for error in shape_errors(mine, shape_of(theirs))]
    if isinstance(mine, dict) and isinstance(theirs, dict):
        if mine.get("exception_name") != theirs.get("exception_name"):
            errors.append(
                f"exception_name: stand-in {mine.get('exception_name')}, conda {theirs.get('exception_name')}"
            )
        if action_names(mine) != action_names(theirs):
            errors.append(f"actions: stand-in {action_names(mine)}, conda {action_names(theirs)}")
    return errors


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_both_sides(name: str, channel: str, bed_base: Callable[[str], Path], request: pytest.FixtureRequest) -> None:
    """With ``CPKGS_TEST_CONDA_EXE``: the scenario on the stand-in and on that real conda agree (rc, exception,
    JSON shape, names linked and unlinked). ``CPKGS_CONTRACT_RECORD=1`` also writes a missing sample."""
    exe = conda_exe()
    if not exe:
        pytest.skip("CPKGS_TEST_CONDA_EXE is not set: only the recorded samples are compared")
    if name in DEVIATIONS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=DEVIATIONS[name]))
    real_bed = Bed(bed_base("conda"), channel, exe)
    real = run_scenario(name, real_bed)
    if os.environ.get("CPKGS_CONTRACT_RECORD") and not (CONTRACT_DIR / f"{name}.json").exists():
        record(name, real, real_bed)
    standin = run_scenario(name, Bed(bed_base("standin"), channel, None))
    errors = compare_sides(standin, real)
    assert not errors, "\n".join(errors)


def record(name: str, result: Result, bed: Bed) -> None:
    """Write real conda's output as a sample, paths rewritten as contract/README.md describes."""
    text = json.dumps(output(result), indent=2)
    channel_dir = bed.channel.removeprefix("file://")
    for old, new in (
        (str(bed.envs), "/nfs/cpkgs/anaconda3_linux/envs"),
        (str(bed.tree.home), "/home/alice"),
        (str(bed.base), "/nfs/cpkgs/scratch"),
        (channel_dir, "/srv/conda-channel"),
        (str(bed.root), "/nfs/cpkgs/anaconda3_linux"),
    ):
        text = text.replace(old, new)
    doc = json.loads(text)
    if isinstance(doc, dict) and "envs" in doc:  # as root conda lists every account's envs: keep the bed's
        ours = ("/nfs/cpkgs/", "/home/alice/")
        doc["envs"] = [env for env in doc["envs"] if env.startswith(ours)]
        doc["envs_details"] = {k: v for k, v in doc["envs_details"].items() if k.startswith(ours)}
    (CONTRACT_DIR / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def test_every_scenario_has_a_sample() -> None:
    """No stale sample and no scenario without one (record it with CPKGS_CONTRACT_RECORD=1)."""
    assert sorted(SCENARIOS) == SAMPLES


def test_compare_sides_can_fail() -> None:
    """The two-sided comparison notices a different rc, exception, shape or package set."""
    ok = Result(0, json.dumps({"actions": {"LINK": [{"name": "a"}], "UNLINK": []}}), "")
    assert compare_sides(ok, ok) == []
    assert compare_sides(Result(1, ok.stdout, ""), ok)
    other = Result(0, json.dumps({"actions": {"LINK": [{"name": "b"}], "UNLINK": []}}), "")
    assert compare_sides(other, ok)
    err = Result(1, json.dumps({"exception_name": "A", "message": "m"}), "")
    assert compare_sides(Result(1, json.dumps({"exception_name": "B", "message": "m"}), ""), err)
    assert compare_sides(Result(1, json.dumps({"exception_name": "A"}), ""), err)


@pytest.mark.parametrize(
    ("value", "sample_value", "ok"),
    [
        ({"a": 1}, {"a": 2}, True),
        ({"a": True}, {"a": 2}, False),  # bool is not int
        ({"a": 1, "b": 2}, {"a": 2}, False),  # extra key
        ({}, {"a": 2}, False),  # missing key
        ({"a": "x"}, {"a": None}, True),  # null in the sample accepts a string
        ({"a": None}, {"a": None}, True),
        ({"a": 3}, {"a": None}, False),
        ([{"a": 1}, {"a": 2}], [{"a": 1}], True),
        ([{"a": 1}, {"b": 2}], [{"a": 1}], False),
        ([1, "x"], [], True),  # an empty sample list says nothing about elements
        ({"envs_details": {"/x": {"w": None}, "/y": {"w": True}}}, {"envs_details": {"/a": {"w": True}}}, False),
        ({"envs_details": {"/x": {"w": True}}}, {"envs_details": {"/a": {"w": True}, "/b": {"w": None}}}, True),
    ],
)
def test_shape_comparison(value: object, sample_value: object, ok: bool) -> None:
    """The comparison itself can fail."""
    assert (not shape_errors(value, shape_of(sample_value))) is ok
