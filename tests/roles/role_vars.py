"""Rendering a role's own variables (its ``vars/main.yml``) against registered results, without the role's tasks:
a play on local hosts loads the role's defaults and vars files, sets each host's registered results as facts,
renders one expression once for the play (``run_once``, as a report does) and hands the value back. The
templates that turn task results into a report are so checked on every stage run, without containers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CPKGS_BUILD") or REPO / ".build")
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def render(
    tmp_path: Path,
    role: str,
    hosts: dict[str, dict[str, Any]],
    expression: str,
    variables: dict[str, Any] | None = None,
    *,
    check: bool = False,
) -> Any:
    """The value of EXPRESSION (a Jinja expression over ROLE's defaults and vars, and VARIABLES) in a play whose
    hosts registered HOSTS' results (host name -> {registered variable: result}); in check mode with CHECK."""
    inventory = {"all": {"hosts": {name: {"ansible_connection": "local"} for name in hosts}}}
    names = sorted({key for results in hosts.values() for key in results})
    registered = {key: f"{{{{ __results[inventory_hostname]['{key}'] | default(omit) }}}}" for key in names}
    keep = {"content": "{{ __rendered.msg | to_json }}", "dest": str(tmp_path / "rendered.json"), "mode": "0644"}
    keep_task = {"name": "Keep it", "ansible.builtin.copy": keep, "run_once": True, "check_mode": False}
    play = [{
        "hosts": "all",
        "gather_facts": False,
        # in this order, each over the one before (the role's defaults, its vars, the test's variables)
        "vars_files": [*(str(REPO / "roles" / role / part / "main.yml") for part in ("defaults", "vars")),
                       str(tmp_path / "variables.json")],
        "vars": {"__results": hosts},
        "tasks": [
            {"name": "What the role registered", "ansible.builtin.set_fact": registered},
            {"name": "Render", "ansible.builtin.debug": {"msg": f"{{{{ {expression} }}}}"},
             "run_once": True, "register": "__rendered"},
            keep_task,
        ],
    }]  # fmt: skip
    (tmp_path / "variables.json").write_text(json.dumps(variables or {}))
    (tmp_path / "play.json").write_text(json.dumps(play))
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    environ = dict(os.environ, ANSIBLE_HOME=str(BUILD / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
                   ANSIBLE_NOCOLOR="1")  # fmt: skip
    proc = subprocess.run(
        [str(PLAYBOOK), "-i", str(tmp_path / "hosts.json"), "-e", f"ansible_python_interpreter={sys.executable}",
         *(["--check"] if check else []), str(tmp_path / "play.json")],
        capture_output=True, text=True, env=environ, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads((tmp_path / "rendered.json").read_text())
