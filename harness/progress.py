"""The sweep driver's progress line: done/total, failed, no data, running, cells/s, ETA.

On a terminal the line is rewritten in place; otherwise (a log file, CI) a new line is written
at most every `interval_s` seconds and once at the end.
"""

from __future__ import annotations

import sys
import time

from harness import store


class Progress:
    """One live line: done/total, failed, running, cells/s, ETA (rewritten in place on a terminal)."""

    def __init__(self, total: int, stream=sys.stderr, interval_s: float = 10.0) -> None:
        self.total, self.stream, self.interval_s = total, stream, interval_s
        self.done = self.failed = self.no_data = self.running = 0
        self.t0 = time.monotonic()
        self._last = 0.0
        self._tty = stream.isatty()

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta_s = f"{eta:,.0f}s" if eta == eta else "?"
        no_data = f", {self.no_data} no data" if self.no_data else ""
        return (f"cells {self.done}/{self.total} done, {self.failed} failed{no_data}, {self.running} running, "
                f"{rate:.2f} cells/s, elapsed {elapsed:,.0f}s, ETA {eta_s}")

    def count(self, status: str) -> None:
        self.done += 1
        self.failed += status == store.STATUS_FAILED
        self.no_data += status == store.STATUS_NO_DATA
        self.update()

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._tty:
            self.stream.write("\r" + self.line().ljust(100))
            self.stream.flush()
        elif force or now - self._last >= self.interval_s:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self._last = now

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
        else:
            self.update(force=True)
