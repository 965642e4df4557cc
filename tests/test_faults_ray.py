"""Issue 10 with a real embedded Ray, as a user's shell runs it: leftovers of every kind in one run,
Ctrl-C / SIGTERM mid-sweep and during Ray start-up, and the embedded Ray's isolation (items 1-4,
11-13, 15). Each test starts one embedded Ray in a subprocess (seconds on an idle machine).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from harness import store
from harness.config import load
from harness.sweep import _tune_dir_prefix

pytestmark = pytest.mark.slow  # every test here runs the real CLI on an embedded Ray

REPO = Path(__file__).resolve().parents[1]
TINY = "settings:\n  space_options: {channels: 4, cells_per_stage: 1}\n"


def _stat(pid: str) -> list[str]:
    """/proc/<pid>/stat fields after the command name: state, ppid, pgrp, session, ..."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def session_processes(sid: int) -> list[int]:
    """Live (not zombie) processes of the session a driver started (its embedded Ray included)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(entry.name)
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def wait_gone(sid: int, timeout_s: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = session_processes(sid)
        if not left:
            return []
        time.sleep(0.5)
    return session_processes(sid)


def listening_ips(pids: list[int]) -> list[str]:
    """The local IPs on which `pids` have listening TCP sockets (from /proc/net/tcp and tcp6)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    ips = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and parts[9] in inodes:  # state LISTEN, one of ours
                raw = bytes.fromhex(parts[1].split(":")[0])
                words = [raw[i:i + 4][::-1] for i in range(0, size, 4)]  # per 32-bit word, host order
                ips.add(socket.inet_ntop(socket.AF_INET if size == 4 else socket.AF_INET6, b"".join(words)))
    return sorted(ips)


def start(args, env=None):
    return subprocess.Popen([sys.executable, "-m", "harness.sweep", *map(str, args)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, **(env or {})})


def test_one_run_survives_every_leftover_and_reports_by_exit_code(tmp_path):
    """A results folder holding what killed drivers leave (a truncated part file, temp files, a
    Tune scratch folder, a dead driver's lock record), a legacy row, a stale Ray cluster record on
    the machine: one run repairs it all, writes one row per cell and exits 1 for the failed cell."""
    f = tmp_path / "s.yaml"
    f.write_text("name: s\nmax_retries: 0\n" + TINY + "grid:\n  - {variant: [D], mode: [oneshot], seed: [0, 1, 2]}\n"
                 "  - {variant: [labels], dataset: [cifar100], mode: [oneshot], seed: [0]}\n")
    cells = load(f).cells
    ok, truncated, killed, no_images = (c.cell_id for c in cells)
    folder = tmp_path / "r" / "s"
    now = datetime.now(timezone.utc)
    store.write_cell(folder, {"cell_id": ok, "sweep": "s", "status": "ok", "started_at": now}, [])
    store.write_cell(folder, {"cell_id": truncated, "sweep": "s", "status": "ok", "started_at": now}, [])
    part = folder / "cells" / f"{truncated}.parquet"
    part.write_bytes(part.read_bytes()[:100])
    (folder / "cells" / ".tmp-x.parquet").write_bytes(b"PAR1")
    (folder / "trajectory").mkdir(exist_ok=True)
    (folder / "trajectory" / ".tmp-y.partial").write_bytes(b"")
    stale_tune = Path(tempfile.mkdtemp(prefix=_tune_dir_prefix(folder)))
    (folder / ".lock").write_text('{"pid": 999999999, "host": "gone", "started_at": "yesterday"}')
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths must fit
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")  # a head killed without `ray stop`

    proc = start([f, "--results", tmp_path / "r"], env={"FREEDARTS_KILL_CELLS": killed, "RAY_TMPDIR": str(ray_tmp)})
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err  # one failed cell
    assert "Traceback" not in err
    assert sum("quarantined" in ln for ln in err.splitlines()) == 1
    rows = pd.read_parquet(folder / "cells").set_index("cell_id")
    assert len(rows) == 4 and rows.index.is_unique
    assert rows.loc[truncated, "status"] == "ok" and rows.loc[truncated, "arch"]  # ran again
    assert rows.loc[killed, "status"] == "failed" and rows.loc[killed, "error"].startswith("WorkerDied")
    assert rows.loc[no_images, "status"] == "no_data"
    assert "$HARNESS_DATA/cifar100" in rows.loc[no_images, "error"]
    assert os.environ["HARNESS_DATA"].rstrip("/") not in rows.loc[no_images, "error"]
    assert len(list((folder / "quarantine" / "cells").iterdir())) == 1
    assert not list(folder.rglob(".tmp-*")) and not stale_tune.exists()
    assert not list(Path(tempfile.gettempdir()).glob(_tune_dir_prefix(folder) + "*"))
    assert (folder / ".lock").read_text() == ""  # released
    assert wait_gone(proc.pid) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_mid_sweep_exits_130_and_the_rerun_finishes(tmp_path, sig):
    """Ctrl-C, or SIGTERM (after ray.init, whose own SIGTERM handler made the driver abort)."""
    f = tmp_path / "s.yaml"
    f.write_text("name: s\n" + TINY + "grid:\n  mode: [iterative]\n  seed: [0, 1, 2, 3, 4, 5, 6, 7]\n")
    folder = tmp_path / "r" / "s"
    proc = start([f, "--results", tmp_path / "r"])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not store.part_files(folder / "cells"):
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    have = len(store.part_files(folder / "cells"))
    assert f"interrupted: {have} of 8 cells have rows; re-run the same command to finish" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert wait_gone(proc.pid) == []  # Ray shut down: nothing of the driver's session is left
    assert not list(Path(tempfile.gettempdir()).glob(_tune_dir_prefix(folder) + "*"))
    assert (folder / ".lock").read_text() == ""
    if sig == signal.SIGTERM:
        return  # the re-run below is the same for both signals

    again = start([f, "--results", tmp_path / "r"])
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    rows = pd.read_parquet(folder / "cells")
    assert len(rows) == 8 and rows.cell_id.is_unique and (rows.status == "ok").all()  # 0 lost, 0 duplicated


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_during_ray_start_up_has_no_traceback(tmp_path, sig):
    f = tmp_path / "s.yaml"
    f.write_text("name: s\nbenchmark: none\n" + TINY + "grid:\n  mode: [oneshot]\n  seed: [0, 1]\n")
    proc = start([f, "--results", tmp_path / "r"])
    deadline = time.monotonic() + 120
    # The plan line is printed just before Ray starts; interrupt as Ray comes up.
    line = ""
    while time.monotonic() < deadline and "to run" not in line:
        line = proc.stderr.readline()
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: 0 of 2 cells have rows; re-run the same command to finish" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert wait_gone(proc.pid) == []


def test_sigterm_inside_ray_init_waits_for_ray_to_be_up():
    """The SIGTERM lands inside ray.init, right after the driver's core worker was made (then Ray's
    sys.exit handler and its C++ crash handler both hold SIGTERM): Ray comes up, and the interrupt
    is raised after, once. Before the fix the driver printed a C++ stack and died with SIGABRT."""
    script = textwrap.dedent("""
        import os, signal, sys
        from harness import ray_session
        from harness.interrupts import Signals
        import ray._private.worker as worker

        real_connect = worker.connect
        def connect(*args, **kwargs):
            real_connect(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGTERM)
        worker.connect = connect
        with Signals() as signals:
            try:
                with signals.deferred():
                    ray_session.start_local()
                    print("ray is up", flush=True)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                ray_session.shutdown()
                sys.exit(130)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                          start_new_session=True)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert proc.stdout == "ray is up\ninterrupted\n"
    assert "SIGTERM received" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_embedded_ray_is_its_own_instance_on_loopback_only(tmp_path):
    """With a stale cluster record on the machine, the embedded Ray starts at once, on its own GCS,
    and every port of its processes listens on 127.0.0.1 only."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")
    script = textwrap.dedent("""
        import json, os, sys
        sys.path.insert(0, "tests")
        from test_faults_ray import listening_ips, session_processes
        from harness import ray_session
        os.setsid()
        ray_session.start_local()
        import ray
        ray.get(ray.remote(lambda: 1).remote())  # a worker process listens too
        listening = listening_ips(session_processes(os.getsid(0)))
        print(json.dumps({"gcs": ray.get_runtime_context().gcs_address, "listening": listening}))
        ray_session.shutdown()
    """)
    res = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "RAY_TMPDIR": str(ray_tmp)})
    assert res.returncode == 0, res.stderr
    import json

    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["gcs"].startswith("127.0.0.1:") and out["gcs"] != "127.0.0.1:1"
    assert out["listening"] and set(out["listening"]) <= {"127.0.0.1", "::ffff:127.0.0.1"}, out  # never 0.0.0.0
