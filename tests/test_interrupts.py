"""Issue 10, item 3: the interrupt handler in-process (harness/interrupts.py); the CLI runs are in
test_faults_ray.py.

A cell write finishes before an interrupt is raised; an interrupt Python swallowed (inside a `__del__`)
is sent again; during Ray's start-up (`deferred`) signals wait for the block to end, handlers installed
inside it are held back or adopted, and a third signal exits 130 at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.interrupts import Signals, deferred

REPO = Path(__file__).resolve().parents[1]


def test_an_interrupt_waits_for_a_cell_write_to_finish():
    done = []
    with Signals() as signals:
        with pytest.raises(KeyboardInterrupt):
            with signals.critical():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
                done.append("written")  # not cut short
        assert done == ["written"]
    with Signals():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)


@pytest.fixture
def own_handlers():
    """Give pytest its SIGINT / SIGTERM handlers back: an interrupted Signals keeps its own for the
    exit of the command."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_an_interrupt_python_swallowed_is_sent_again(own_handlers):
    class Dropped:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)  # our KeyboardInterrupt is raised here, inside __del__: Python ignores it

    with Signals() as signals:
        with pytest.raises(KeyboardInterrupt):
            Dropped()
            time.sleep(5)  # sent again: raised here, where it ends the run
        assert signals.received == 1


def test_a_signal_during_ray_start_up_waits_and_ray_does_not_take_sigterm(own_handlers):
    # ray.init installs a SIGTERM handler that calls sys.exit: raised half-way through ray.init or an
    # import, it left Ray or modules half-made (the driver died with SIGABRT/SIGSEGV/SIGINT, measured).
    done = []
    with Signals() as signals:
        with pytest.raises(KeyboardInterrupt):
            with signals.deferred():
                signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))  # what ray.init does
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                done.append("Ray is up")  # not cut short
        assert done == ["Ray is up"] and signals.received == 1
        assert signal.getsignal(signal.SIGTERM) == signals._handle  # ours, not the one installed inside


def test_deferred_adopts_the_handlers_installed_inside_and_delivers_the_signal_to_them(own_handlers):
    got, python_signal = [], signal.signal
    with deferred():  # harness.reproduce: no Signals of its own
        signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert got == []
    assert got == [signal.SIGTERM]
    with deferred():  # nothing received: nothing delivered, and signal.signal is Python's again
        pass
    assert got == [signal.SIGTERM] and signal.signal is python_signal


def test_a_third_signal_during_ray_start_up_exits_at_once_with_130():
    script = ("import os, signal, time\nfrom harness.interrupts import deferred\nwith deferred():\n"
              "    for _ in range(3):\n        os.kill(os.getpid(), signal.SIGINT)\n        time.sleep(0.05)\n"
              "    print('not reached')\n")
    res = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 130 and res.stdout == "" and "Traceback" not in res.stderr
