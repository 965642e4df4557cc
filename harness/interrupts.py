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

Ray's start-up and the import of Ray's libraries run in a `deferred` block: a signal there is held
until the block ends. A KeyboardInterrupt (or the `sys.exit` of the SIGTERM handler ray.init
installs) raised half-way through `ray.init` or through an import of C extensions left Ray or the
modules half-made; the driver then printed its line and died with SIGABRT or SIGINT (with Ray's
C++ crash handler off: SIGSEGV, or exit 1 with a RuntimeError) instead of exiting 130 (measured,
2026-12-01, a SIGTERM 0.2-7.2 s after the plan line on a loaded machine: scripts/interrupt_startup.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
SIGNALS = (signal.SIGINT, signal.SIGTERM)
_install = signal.signal  # `deferred` replaces signal.signal inside its block


@contextlib.contextmanager
def deferred(*, adopt: bool = True) -> Iterator[None]:
    """A block that SIGINT / SIGTERM do not cut short (see the module docstring).

    Inside, a signal is only recorded (a third one exits at once with 130), and `signal.signal` calls
    for these two signals made by the block's code (ray.init installs a SIGTERM handler that calls
    sys.exit) are held back. When the block ends, each signal gets the handler it had before the block
    (`adopt=False`: the caller owns the signals) or the last one the block's code installed
    (`adopt=True`: as if installed now). Then the first recorded signal is delivered to it, when the
    block ended normally: a KeyboardInterrupt (or SystemExit) comes out of the `with`.
    """
    if threading.current_thread() is not threading.main_thread():  # signal.signal works there only
        yield
        return
    received: list[int] = []

    def record(signum, frame) -> None:
        received.append(signum)
        if len(received) >= 3:
            os._exit(EXIT_INTERRUPTED)

    before = {sig: _install(sig, record) for sig in SIGNALS}
    installed: dict[int, Any] = {}

    def hold_back(signum, handler):
        if signum in before and threading.current_thread() is threading.main_thread():
            previous = installed.get(signum, before[signum])
            installed[signum] = handler
            return previous
        return outer(signum, handler)  # another signal, or another thread (where Python raises)

    outer, signal.signal = signal.signal, hold_back
    try:
        yield
    finally:
        signal.signal = outer
        for sig in SIGNALS:
            handler = installed.get(sig, before[sig]) if adopt else before[sig]
            _install(sig, signal.SIG_DFL if handler is None else handler)  # None: C code's, not restorable
    if received:  # reached only when the block ended normally
        signal.raise_signal(received[0])


class Signals:
    """SIGINT / SIGTERM handling for the driver (see the module docstring)."""

    def __init__(self) -> None:
        self.received = 0
        self._critical = False
        self._pending = False
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        for sig in SIGNALS:
            self._saved[sig] = signal.signal(sig, self._handle)
        hook = sys.unraisablehook

        def quiet_interrupts(unraisable) -> None:
            if not isinstance(unraisable.exc_value, KeyboardInterrupt):
                hook(unraisable)
            elif self.received == 1:
                # Python ignored our KeyboardInterrupt: it was raised inside a __del__ or an at-fork
                # callback. Had it been counted, the run would go on and the next Ctrl-C be ignored as a
                # second one. Send the signal again, a moment later from a thread, so that it is raised
                # where it can end the run.
                self.received = 0
                resend = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
                resend.daemon = True
                resend.start()

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

    def deferred(self) -> contextlib.AbstractContextManager[None]:
        """`deferred(adopt=False)`: Ray's start-up, with these handlers kept (see `deferred`)."""
        return deferred(adopt=False)

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

    def deferred(self):
        return contextlib.nullcontext()

    def critical(self):
        return contextlib.nullcontext()
