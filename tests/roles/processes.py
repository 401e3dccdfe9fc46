"""Freezing and killing the processes a test started, for the kill tests of tests/roles: a look at /proc, a
process's descendants, and the loop that stops them at a chosen point."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def table() -> dict[int, tuple[int, bytes]]:
    """Every process now: pid -> (parent pid, command line)."""
    procs = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        procs[int(entry.name)] = (ppid, cmdline)
    return procs


def below(pid: int, top: int, procs: dict[int, tuple[int, bytes]]) -> bool:
    """Whether ``pid`` descends from ``top``."""
    while pid > 1:
        pid = procs.get(pid, (0, b""))[0]
        if pid == top:
            return True
    return False


def with_descendants(found: set[int], procs: dict[int, tuple[int, bytes]]) -> list[int]:
    return sorted(found | {pid for pid in procs if any(below(pid, top, procs) for top in found)})


def send(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # ended meanwhile
            os.kill(pid, signum)


def kill_at(
    run: subprocess.Popen, find: Callable[[], list[int]], point: Callable[[], bool], timeout: float
) -> list[int]:
    """Freeze (SIGSTOP) what ``find`` names whenever it runs, check ``point`` while it is frozen (so the point
    cannot pass meanwhile), and kill it there (SIGKILL) or let it go on (SIGCONT). The pids killed; none when
    ``run`` ended first."""
    deadline = time.monotonic() + timeout
    while run.poll() is None and time.monotonic() < deadline:
        pids = find()
        if pids:
            send(pids, signal.SIGSTOP)
            frozen = find()  # with children started meanwhile
            send(frozen, signal.SIGSTOP)
            if frozen and point():
                send(frozen, signal.SIGKILL)
                return frozen
            send(frozen, signal.SIGCONT)
        time.sleep(0.005)
    return []
