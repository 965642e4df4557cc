"""One sweep driver per results folder: an advisory lock with the holder's pid and host in it.

    with ResultsLock(Path("results/table3")).acquire(wait=False):
        ...  # write the folder

Two drivers on the same folder would both run every missing cell (twice the compute, and each
rewriting the other's rows). The lock is `fcntl.flock` on `<results>/.lock`: the kernel releases
it when the holder exits in any way (SIGKILL included), so a stale lock of a dead process is
simply taken over, and the file's content (pid, host, start time, command) only says who holds
it. A second driver gets `ResultsLockedError` naming the holder, or waits (`wait=True`).

Readers (`--dry-run`, `python -m harness.report`, pandas) take no lock: part files are replaced
atomically, so they always see whole files.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import HarnessError

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"


class ResultsLockedError(HarnessError):
    """Another driver holds the results folder's lock."""

    def __init__(self, results_dir: Path, holder: dict) -> None:
        self.results_dir, self.holder = results_dir, holder
        super().__init__(f"{results_dir} is in use by another sweep driver ({describe(holder)}); wait for it to "
                         f"finish, or pass --wait to start when it does")


def describe(holder: dict) -> str:
    """'pid 123 on host h since 2026-11-30T10:00:00+00:00: python -m harness.sweep ...'."""
    if not holder:
        return "holder unknown: the lock file is being written"
    text = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} since {holder.get('started_at', '?')}"
    return text + (f": {holder['command']}" if holder.get("command") else "")


def read_holder(results_dir: Path) -> dict:
    """What the lock file says (empty if absent or unreadable)."""
    try:
        data = json.loads((Path(results_dir) / LOCK_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class ResultsLock:
    """The lock of one results folder (see the module docstring)."""

    def __init__(self, results_dir: Path) -> None:
        self.results_dir = Path(results_dir)
        self.path = self.results_dir / LOCK_FILE
        self._fd: int | None = None

    def try_acquire(self) -> dict | None:
        """Take the lock if free; returns None on success, else the holder's record."""
        self.results_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inheritable: child processes never hold it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return read_holder(self.results_dir)
        previous = read_holder(self.results_dir)
        if previous and not (previous.get("pid") == os.getpid() and previous.get("host") == socket.gethostname()):
            log.info("taking over the lock of %s (that driver is gone)", describe(previous))
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "command": " ".join([Path(sys.executable).name, *sys.argv])[:300]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty file: nobody holds it
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    @contextmanager
    def acquire(self, wait: bool = False, poll_s: float = 0.5,
                on_wait: Callable[[dict], None] | None = None) -> Iterator[ResultsLock]:
        """Hold the lock for the `with` block; `ResultsLockedError` if taken (unless `wait`)."""
        holder = self.try_acquire()
        if holder is not None:
            if not wait:
                raise ResultsLockedError(self.results_dir, holder)
            if on_wait is not None:
                on_wait(holder)
            while holder is not None:
                time.sleep(poll_s)
                holder = self.try_acquire()
        try:
            yield self
        finally:
            self.release()
