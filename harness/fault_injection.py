"""Injected worker deaths for fault tests (`$FREEDARTS_KILL_CELLS`, used by tests/ and scripts/).

    FREEDARTS_KILL_CELLS='ID[:TIMES],...'   the worker running cell ID dies on its first TIMES attempts
    FREEDARTS_FAULT_DIR=DIR                 where attempts are counted (shared by the workers)
    FREEDARTS_TUNE_GIVES_UP=1               Tune retries no trial itself, as when a retry fails while it
                                            starts (on a node that has just left): the driver's next round
                                            (harness.sweep.run) must retry it
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

KILL_ENV = "FREEDARTS_KILL_CELLS"
FAULT_DIR_ENV = "FREEDARTS_FAULT_DIR"
GIVES_UP_ENV = "FREEDARTS_TUNE_GIVES_UP"


def tune_gives_up() -> bool:
    return os.environ.get(GIVES_UP_ENV, "") not in ("", "0")


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
