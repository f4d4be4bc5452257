"""CPU seconds a benchmarked server used: its worker processes and its PostgreSQL backends.

The machine is shared, so throughput alone says little; CPU per item says
what a request costs whoever else runs there. Linux only (reads /proc).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text

from engine.db.connect import make_engine


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The direct children of `pid` (gunicorn's workers under its master)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def backends(url: str) -> list[int]:
    """Pids of the PostgreSQL backends connected to the database of `url` (none on SQLite)."""
    if not url.startswith("postgresql"):
        return []
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalars()
        pids = [int(pid) for pid in rows]
    engine.dispose()
    return pids


class ServerCpu:
    """CPU of the gunicorn master `server_pid`, its workers and the database backends."""

    def __init__(self, server_pid: int, url: str) -> None:
        self.server_pid, self.url = server_pid, url
        self.start = self._snapshot()

    def _snapshot(self) -> tuple[dict[int, float], dict[int, float]]:
        app = [self.server_pid, *children(self.server_pid)]
        return (
            {pid: cpu_seconds(pid) for pid in app},
            {pid: cpu_seconds(pid) for pid in backends(self.url)},
        )

    def used(self) -> tuple[float, float]:
        """(app seconds, database seconds) since construction; new processes count from 0."""
        end = self._snapshot()
        return tuple(  # type: ignore[return-value]
            sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
            for before, after in zip(self.start, end, strict=True)
        )
