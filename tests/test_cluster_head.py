"""Issue 10, items 14 and 15: the cluster path as a user takes it, on a real `ray start --head`.

The head runs in its own session with its own temp folder and ports, and its own HOME, so the
machine's ~/.ray and /tmp/ray are untouched; teardown stops exactly that session's processes
(never `ray stop`: other Ray instances on this machine are not ours). Ray 2.60's `ray start
--head` turns token authentication on because the head's HOME holds a token, as it would on any
machine where `ray.init()` once ran.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from test_faults_ray import wait_gone

REPO = Path(__file__).resolve().parents[1]
TINY = "settings:\n  space_options: {channels: 4, cells_per_stage: 1}\n  mode: oneshot\n"
pytestmark = pytest.mark.cluster


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")  # built once: the `cluster` xdist lane runs this module's tests in a row
def head():
    base = Path(tempfile.mkdtemp(prefix="rh", dir="/tmp"))  # short: Ray's socket paths must fit
    home = base / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(uuid.uuid4().hex)  # what `ray get-auth-token --generate` leaves
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), RAY_TMPDIR=str(base))
    t0, t0_wall = time.monotonic(), time.time()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
                             f"--port={port}", f"--temp-dir={base / 'ray'}", "--num-cpus=2", "--num-gpus=0",
                             "--include-dashboard=false", "--disable-usage-stats"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    started = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "Ray runtime started" not in started:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        started += line
    assert "Ray runtime started" in started, started
    yield {"address": f"127.0.0.1:{port}", "home": home, "base": base, "env": env, "t0_wall": t0_wall,
           "up_s": time.monotonic() - t0, "log": started}
    os.killpg(proc.pid, signal.SIGTERM)  # only the session we started
    if wait_gone(proc.pid, timeout_s=5):  # `ray start --block` leaves its GCS running after SIGTERM
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)
    proc.stdout.close()
    assert wait_gone(proc.pid, timeout_s=20) == []


def sweep(f, results, env, *extra):
    return subprocess.run([sys.executable, "-m", "harness.sweep", str(f), "--results", str(results), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env=env)


def test_head_with_token_auth_runs_a_sweep_through_address(head, tmp_path):
    assert "Token authentication is enabled" in head["log"]  # Ray 2.60's default on a machine with a token
    f = tmp_path / "c.yaml"
    f.write_text("name: c\n" + TINY + "grid:\n  seed: [0, 1]\n")
    env = {**head["env"], "HARNESS_DATA": os.environ["HARNESS_DATA"], "HARNESS_CACHE": os.environ["HARNESS_CACHE"]}
    t_driver = time.time()
    res = sweep(f, tmp_path / "r", env, "--address", head["address"])
    assert res.returncode == 0, res.stderr
    assert "InvalidAuthToken" not in res.stderr and "Traceback" not in res.stderr
    cells = pd.read_parquet(tmp_path / "r" / "c" / "cells")
    assert len(cells) == 2 and (cells.status == "ok").all() and cells.cifar10_test_acc.notna().all()
    first = cells.finished_at.min().timestamp()
    print(f"\nray start -> head up {head['up_s']:.1f} s; sweep command -> first cell finished {first - t_driver:.1f} s; "
          f"ray start -> first cell finished {first - head['t0_wall']:.1f} s")
    head["node_ids"] = set(cells.node_id)


def test_driver_without_the_token_gets_one_line_with_the_fix(head, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("name: c\n" + TINY + "grid:\n  seed: [0]\n")
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    t0 = time.monotonic()
    res = sweep(f, tmp_path / "r", {**head["env"], "HOME": str(empty_home)}, "--address", head["address"])
    assert time.monotonic() - t0 < 30
    assert res.returncode == 2, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "requires token authentication" in errors[0] and "ray get-auth-token" in errors[0]
    assert "RAY_AUTH_TOKEN" in errors[0] and "Traceback" not in res.stderr
    wrong = {**head["env"], "RAY_AUTH_TOKEN": "0" * 32}
    res = sweep(f, tmp_path / "r", wrong, "--address", head["address"])
    assert res.returncode == 2 and "rejected this machine's auth token" in res.stderr


def test_embedded_sweep_never_joins_the_recorded_live_head(head, tmp_path):
    """`ray start` recorded the head in $RAY_TMPDIR/ray/ray_current_cluster: a plain sweep still
    runs on an embedded instance of its own."""
    assert (head["base"] / "ray" / "ray_current_cluster").is_file()
    f = tmp_path / "c.yaml"
    f.write_text("name: c\nbenchmark: none\n" + TINY + "grid:\n  seed: [0]\n")
    res = sweep(f, tmp_path / "r", head["env"])
    assert res.returncode == 0, res.stderr
    node = pd.read_parquet(tmp_path / "r" / "c" / "cells").node_id.iloc[0]
    if not head.get("node_ids"):  # this test ran first (xdist orders a group's tests freely): ask the head
        probe = subprocess.run([sys.executable, "-c", "import json, ray; ray.init(address=%r, logging_level='ERROR'); "
                                "print(json.dumps([n['NodeID'] for n in ray.nodes()]))" % head["address"]],
                               capture_output=True, text=True, timeout=120, env={**head["env"], "RAY_AUTH_MODE": "token"})
        assert probe.returncode == 0, probe.stderr
        head["node_ids"] = set(json.loads(probe.stdout.strip().splitlines()[-1]))
    assert node and node not in head["node_ids"], "ran on the recorded head's node"
