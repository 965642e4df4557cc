"""Sweeps on a real multi-node Ray cluster on one machine (`ray.cluster_utils.Cluster`).

Worker nodes declare logical GPUs, so cells are scheduled exactly as on a GPU cluster (Ray sets
CUDA_VISIBLE_DEVICES and `ray.get_gpu_ids()`), while the searches themselves run on the CPU.
The sweep driver is the real CLI in a subprocess, connected with `--address`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.cluster

TINY = "settings:\n  space_options: {channels: 4, cells_per_stage: 1}\n  mode: oneshot\n"


# Module scope: the `cluster` xdist lane runs this module's tests one after the other (tests/test_xdist_lanes.py
# checks the lane holds), so the cluster is built once and shut down when they are done (idle, it costs
# ~5 % of a core: measured 4.6 % over 30 s).
@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0, "include_dashboard": False})
    workers = [c.add_node(num_cpus=2, num_gpus=2) for _ in range(2)]
    c.wait_for_nodes()
    yield c, workers
    c.shutdown()


def sweep_cmd(f, results, address):
    return [sys.executable, "-m", "harness.sweep", str(f), "--results", str(results), "--address", address]


def write(tmp_path, seeds, extra=""):
    f = tmp_path / "c.yaml"
    f.write_text(f"name: c\n{TINY}{extra}grid:\n  seed: {list(range(seeds))}\n")
    return f


def test_each_cell_holds_one_gpu_and_concurrent_cells_never_share_one(cluster, tmp_path):
    c, _ = cluster
    f = write(tmp_path, 16)
    res = subprocess.run(sweep_cmd(f, tmp_path / "r", c.address), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    cells = pd.read_parquet(tmp_path / "r" / "c" / "cells")
    assert len(cells) == 16 and (cells.status == "ok").all()
    assert cells.gpu_ids.str.fullmatch(r"\d+").all(), cells.gpu_ids.tolist()  # exactly one id each
    assert cells.node_id.nunique() >= 1
    # In timing mode no two cells that overlapped in time held the same GPU of the same node.
    rows = cells.sort_values("started_at").to_dict("records")
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            overlap = a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]
            if overlap and a["node_id"] == b["node_id"]:
                assert a["gpu_ids"] != b["gpu_ids"], (a["cell_id"], b["cell_id"])


def test_killed_workers_are_retried_then_recorded(cluster, tmp_path):
    c, _ = cluster
    f = write(tmp_path, 6, extra="max_retries: 1\n")
    ids = subprocess.run([sys.executable, "-m", "harness.sweep", str(f), "--dry-run"], cwd=REPO,
                         capture_output=True, text=True).stdout.split("\n")
    ids = [line.split()[0] for line in ids[:6]]
    env = {**os.environ, "FREEDARTS_KILL_CELLS": f"{ids[0]}:1,{ids[1]}", "FREEDARTS_FAULT_DIR": str(tmp_path / "faults")}
    res = subprocess.run(sweep_cmd(f, tmp_path / "r", c.address), cwd=REPO, capture_output=True, text=True,
                         timeout=300, env=env)
    assert res.returncode == 1, res.stderr  # ids[1] ends failed: the exit code says so
    cells = pd.read_parquet(tmp_path / "r" / "c" / "cells").set_index("cell_id")
    assert len(cells) == 6 and cells.index.is_unique
    assert cells.loc[ids[0], "status"] == "ok" and cells.loc[ids[0], "attempt"] == 2  # died once, retried
    assert cells.loc[ids[1], "status"] == "failed" and "WorkerDied" in cells.loc[ids[1], "error"]
    assert "after 2 attempt" in cells.loc[ids[1], "error"]
    assert (cells.drop(index=ids[1]).status == "ok").all()


def test_a_node_leaving_mid_sweep_does_not_stop_it(cluster, tmp_path):
    c, workers = cluster
    f = write(tmp_path, 40, extra="max_retries: 3\n")
    proc = subprocess.Popen(sweep_cmd(f, tmp_path / "r", c.address), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    cells_dir = tmp_path / "r" / "c" / "cells"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(cells_dir.glob("*.parquet"))) < 8:
        time.sleep(0.1)
    c.remove_node(workers[1])  # a node leaves with its running cells
    _, err = proc.communicate(timeout=300)
    workers[1] = c.add_node(num_cpus=2, num_gpus=2)  # the next test gets the fixture's two GPU nodes back
    cells = pd.read_parquet(cells_dir)
    assert proc.returncode == 0, (err, cells[cells.status != "ok"].error.tolist())
    assert len(cells) == 40 and cells.cell_id.is_unique and (cells.status == "ok").all()


def test_throughput_mode_packs_cells_onto_shared_gpus(cluster, tmp_path):
    c, _ = cluster
    f = write(tmp_path, 8, extra="resources: {mode: throughput, gpus_per_cell: 0.5}\n")
    res = subprocess.run(sweep_cmd(f, tmp_path / "r", c.address), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    cells = pd.read_parquet(tmp_path / "r" / "c" / "cells")
    assert len(cells) == 8 and (cells.status == "ok").all()
    assert cells.gpu_ids.str.fullmatch(r"\d+").all()  # a half GPU is still one device id
