"""Processes and ports on this machine, for the HTTP benchmark and the reliability tests that
start servers: a free loopback port, and a process group's live processes and their CPU time,
read from ``/proc`` (Linux)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def group_processes(group: int) -> list[int]:
    """The live (non-zombie) processes of process group ``group``."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def group_alive(group: int) -> bool:
    return bool(group_processes(group))


def cpu_seconds_by_process(group: int) -> dict[int, float]:
    """User + system CPU seconds of each live process of ``group``."""
    found: dict[int, float] = {}
    for pid in group_processes(group):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state is field 0, utime field 11, stime field 12.
        found[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found
