"""What every fault of scripts/fault_matrix.py uses: the result record, a fresh sweep folder with
helpers to run the real CLI there and count its rows, and the process and output checks."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.config import load  # noqa: E402

TINY = "settings:\n  space_options: {channels: 4, cells_per_stage: 1}\n"
SWEEP = "name: m\nmax_retries: 1\n" + TINY + "grid:\n  mode: [oneshot, iterative]\n  seed: [0, 1, 2, 3]\n"


@dataclass
class Result:
    fault: str
    outcome: str
    lost: int
    duplicated: int
    exit: str
    ok: bool


class Case:
    """A fresh folder with the sweep file; helpers to run the CLI there."""

    def __init__(self, root: Path, sweep: str = SWEEP, env: dict | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fm-", dir=root))
        self.file = self.dir / "m.yaml"
        self.file.write_text(sweep)
        self.results = self.dir / "r"
        self.folder = self.results / load(self.file).name
        self.env = {**os.environ, **(env or {})}

    def cmd(self, *extra) -> list[str]:
        return [sys.executable, "-m", "harness.sweep", str(self.file), "--results", str(self.results), *map(str, extra)]

    def run(self, *extra, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(*extra), cwd=REPO, capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})})

    def start(self, *extra, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(self.cmd(*extra), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, env={**self.env, **(env or {})}, start_new_session=True)

    def wait_rows(self, n: int, proc: subprocess.Popen | None = None, timeout: float = 600) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            have = len([p for p in (self.folder / "cells").glob("*.parquet") if not p.name.startswith(".")]) \
                if (self.folder / "cells").is_dir() else 0
            if have >= n or (proc is not None and proc.poll() is not None):
                return have
            time.sleep(0.1)
        return -1

    def count(self, expected: set[str] | None = None) -> tuple[int, int]:
        """(lost, duplicated) with plain pandas, as a notebook reads the folder; lost counts the cells
        of `expected` (default: every cell of the sweep) without a row."""
        expected = {c.cell_id for c in load(self.file).cells} if expected is None else expected
        cells = pd.read_parquet(self.folder / "cells") if (self.folder / "cells").is_dir() else pd.DataFrame(
            {"cell_id": []})
        dup = int(cells.cell_id.duplicated().sum())
        if (self.folder / "trajectory").is_dir():
            traj = pd.read_parquet(self.folder / "trajectory")
            dup += int(traj.duplicated(["cell_id", "step"]).sum())
        return len(expected - set(cells.cell_id)), dup


def session_left(sid: int, timeout_s: float = 30) -> int:
    """Processes still alive in a driver's session (its embedded Ray) after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = 0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    text = (entry / "stat").read_text()
                except OSError:
                    continue
                fields = text[text.rindex(")") + 2:].split()
                left += int(fields[3]) == sid and fields[0] != "Z"
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def one_line(text: str) -> bool:
    return len([ln for ln in text.splitlines() if ln.startswith("error:")]) == 1 and "Traceback" not in text
