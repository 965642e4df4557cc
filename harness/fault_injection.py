"""Injected worker deaths for fault tests (`$FREEDARTS_KILL_CELLS`, used by tests/ and scripts/).

    FREEDARTS_KILL_CELLS='ID[:TIMES],...'   the worker running cell ID dies on its first TIMES attempts
    FREEDARTS_FAULT_DIR=DIR                 where attempts are counted (shared by the workers)
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

KILL_ENV = "FREEDARTS_KILL_CELLS"
FAULT_DIR_ENV = "FREEDARTS_FAULT_DIR"


def parse_faults(spec: str) -> tuple[tuple[str, int], ...]:
    """`$FREEDARTS_KILL_CELLS`: 'ID[:TIMES],...'; the cell's worker dies on its first TIMES attempts
    (no TIMES or 0: on every attempt, so the cell ends failed after its retries)."""
    faults = []
    for item in filter(None, (x.strip() for x in spec.split(","))):
        cell_id, _, times = item.partition(":")
        faults.append((cell_id, int(times or 0)))
    return tuple(faults)


def inject_fault(cell_id: str, ctx) -> None:
    """Kill this worker process (like an OOM kill or a preempted node) if the cell is marked."""
    times = dict(ctx.faults).get(cell_id)
    if times is None:
        return
    if times:
        marker_dir = Path(ctx.fault_dir or Path(tempfile.gettempdir()) / f"freedarts-faults-{ctx.sweep}") / cell_id
        marker_dir.mkdir(parents=True, exist_ok=True)
        if len(list(marker_dir.iterdir())) >= times:
            return
        (marker_dir / f"{os.getpid()}-{time.time_ns()}").touch()
    os.kill(os.getpid(), signal.SIGKILL)
