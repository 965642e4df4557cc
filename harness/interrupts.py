"""Ctrl-C and SIGTERM for the sweep driver: one clean stop, no traceback.

    with Signals() as signals:
        try:
            ...                                   # a SIGINT / SIGTERM raises KeyboardInterrupt here
            with signals.critical():
                store.write_cell(...)             # ... but not inside: it waits until the cell is whole
        except KeyboardInterrupt:
            print("interrupted: ..."); return EXIT_INTERRUPTED

The first signal becomes a KeyboardInterrupt (SIGTERM too: the default would kill the driver
without shutting Ray down or releasing the results folder). A second one is ignored, so the
clean-up it started (Ray shut down, temporary folders removed, the lock released) finishes; a
third exits at once with 130.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


class Signals:
    """SIGINT / SIGTERM handling for the driver (see the module docstring)."""

    def __init__(self) -> None:
        self.received = 0
        self._critical = False
        self._pending = False
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved[sig] = signal.signal(sig, self._handle)
        hook = sys.unraisablehook

        def quiet_interrupts(unraisable) -> None:  # an interrupt Python swallowed: `rearm` delivers it
            exc = unraisable.exc_value
            if isinstance(exc, SystemExit) and exc.code in (signal.SIGTERM, signal.SIGINT):
                # Ray's own SIGTERM handler (installed by ray.init) ran sys.exit(signum) where Python
                # ignores exceptions (logging's at-fork lock release; measured): count it as ours.
                self.received += 1
                return
            if not isinstance(exc, KeyboardInterrupt):
                hook(unraisable)

        sys.unraisablehook = quiet_interrupts
        return self

    def __exit__(self, *exc) -> None:
        if self.received:
            # The command is ending after an interrupt: keep our handlers while Python exits, so a
            # late signal (a second Ctrl-C, Ray's processes going down) is ignored or exits with 130
            # instead of a KeyboardInterrupt at shutdown (the driver then died with SIGINT, measured).
            return
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)

    def rearm(self) -> None:
        """Take the signals back after `ray.init`, which installs SIGTERM handlers of its own (they
        call sys.exit from inside Tune's loop, and the driver died with SIGABRT, measured)."""
        for sig in self._saved:
            signal.signal(sig, self._handle)
        if self.received:
            # A signal arrived while Ray started, and its KeyboardInterrupt was raised inside a
            # callback whose exceptions Python ignores (logging's at-fork lock release, measured):
            # had it propagated, this line would not run. Deliver it now.
            raise KeyboardInterrupt

    def _handle(self, signum, frame) -> None:
        self.received += 1
        if self.received >= 3:
            os._exit(EXIT_INTERRUPTED)
        if self.received > 1:
            return
        if self._critical:
            self._pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A block that a first interrupt does not cut short; it is raised when the block ends."""
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self._pending:  # reached only when the block ended normally
            self._pending = False
            raise KeyboardInterrupt


class NullSignals:
    """For `run()` called from Python (tests, notebooks): no signal handling of our own."""

    received = 0

    def rearm(self) -> None:
        pass

    def critical(self):
        return contextlib.nullcontext()
