"""The sweep CLI end to end on a real embedded Ray: rows, resume, SIGKILL, worker death, bad inputs.

These start real Ray (a few seconds each) in subprocesses, as a user's shell would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def sweep(args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "harness.sweep", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300, **kw)


def write(tmp_path, text, name="s.yaml"):
    f = tmp_path / name
    f.write_text(text)
    return f


def test_help_documents_every_option():
    out = sweep(["--help"]).stdout
    for opt in ("--address", "--dry-run", "--only", "--retry-failed", "--max-concurrent", "--results", "HARNESS_DATA"):
        assert opt in out


def test_dry_run_lists_cells_without_running(tmp_path):
    f = write(tmp_path, "name: dry\ngrid:\n  seed: [0, 1, 2]\n  mode: [oneshot]\n")
    res = sweep([f, "--dry-run", "--results", tmp_path / "r", "--only", "seed=0,2"])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 4 and "seed=0" in lines[0] and "todo" in lines[0]
    assert lines[2].startswith("same in every cell: ") and "mode=oneshot" in lines[2]  # the fixed fields, once
    assert lines[-1].startswith("2 cells, 2 to run")
    assert not (tmp_path / "r" / "dry" / "cells").exists()


@pytest.mark.parametrize("text, needle", [
    ("grid:\n  variant: [DD]\n", "s.yaml:grid.variant[0]: unknown variant 'DD' (did you mean 'D'?)"),
    ("grdi:\n  seed: [0]\n", "unknown key 'grdi'"),
    ("grid:\n  space: [darts201]\n", "unknown space 'darts201'"),
])
def test_bad_sweep_file_is_one_error_line_and_exit_2(tmp_path, text, needle):
    res = sweep([write(tmp_path, text), "--results", tmp_path / "r"])
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and needle in res.stderr


def test_missing_configured_table_is_one_error_line(tmp_path):
    f = write(tmp_path, f"benchmark_table: {tmp_path / 'none-here'}\ngrid:\n  mode: [oneshot]\n")
    res = sweep([f, "--results", tmp_path / "r"])
    assert res.returncode == 2 and "no nasbench201 table at" in res.stderr and "convert" in res.stderr


@pytest.mark.slow
def test_run_resume_retry_and_worker_death(tmp_path):
    f = write(tmp_path, "name: s\ngrid:\n  variant: [D, labels]\n  dataset: [cifar10, cifar100]\n"
                        "  mode: [oneshot]\n  seed: [0]\nsettings:\n  space_options: {channels: 8}\n"
                        "max_retries: 0\n")
    results = tmp_path / "r"
    ids = sweep([f, "--dry-run", "--results", results]).stdout.split()
    kill = ids[0]  # the first cell's worker dies every time
    # A relative data root, as in the README (`HARNESS_DATA=../shared/data`): workers run elsewhere.
    rel = os.path.relpath(os.environ["HARNESS_DATA"], REPO)
    res = sweep([f, "--results", results], env={"FREEDARTS_KILL_CELLS": kill, "HARNESS_DATA": rel})
    assert res.returncode == 1, res.stderr  # a failed cell: the exit code says so
    cells = pd.read_parquet(results / "s" / "cells").set_index("cell_id")
    assert len(cells) == 4
    assert cells.loc[kill, "status"] == "failed" and cells.loc[kill, "error"].startswith("WorkerDied")
    lab100 = cells[(cells.variant == "labels") & (cells.dataset == "cifar100")].iloc[0]
    assert lab100.status == "no_data" and "cifar100 training images not found" in lab100.error
    ok = cells[cells.status == "ok"]
    assert len(ok) == 2 and ok.cifar10_test_acc.notna().all() and ok.imagenet16_test_acc.notna().all()
    assert (results / "s" / "config.yaml").exists()
    assert "cells 4/4 done, 1 failed, 1 no data" in res.stderr

    again = sweep([f, "--results", results])
    assert "0 to run" in again.stderr and again.returncode == 1  # still one failed row

    retry = sweep([f, "--results", results, "--retry-failed"])
    assert "1 to run" in retry.stderr and retry.returncode == 0  # no_data is not rerun by --retry-failed
    cells = pd.read_parquet(results / "s" / "cells").set_index("cell_id")
    assert len(cells) == 4 and cells.loc[kill, "status"] == "ok"  # no kill injected this time


@pytest.mark.slow
def test_cells_tune_gave_up_on_with_retries_left_run_again_in_a_further_round(tmp_path):
    # FREEDARTS_TUNE_GIVES_UP: Tune ends every failed trial at once, as it does when a retry fails while
    # it starts on a node that has just left (CI saw 'WorkerDied after 2 attempt(s)' with max_retries 3).
    f = write(tmp_path, "name: g\ngrid:\n  mode: [oneshot]\n  seed: [0, 1]\n"
                        "settings:\n  space_options: {channels: 4, cells_per_stage: 1}\nmax_retries: 1\n")
    results = tmp_path / "r"
    ids = [line.split()[0] for line in sweep([f, "--dry-run", "--results", results]).stdout.splitlines()[:2]]
    once, always = ids
    env = {"FREEDARTS_KILL_CELLS": f"{once}:1,{always}", "FREEDARTS_FAULT_DIR": str(tmp_path / "faults"),
           "FREEDARTS_TUNE_GIVES_UP": "1"}
    res = sweep([f, "--results", results], env=env)
    assert res.returncode == 1, res.stderr  # `always` used its 2 attempts
    cells = pd.read_parquet(results / "g" / "cells").set_index("cell_id")
    assert len(cells) == 2 and cells.index.is_unique
    assert cells.loc[once, "status"] == "ok" and cells.loc[once, "attempt"] == 2  # second round
    assert cells.loc[always, "status"] == "failed" and "after 2 attempt(s)" in cells.loc[always, "error"]


@pytest.mark.slow
def test_sigkill_midway_then_rerun_leaves_one_row_per_cell(tmp_path):
    f = write(tmp_path, "name: k\ngrid:\n  mode: [iterative]\n  seed: [0, 1, 2, 3, 4, 5]\n"
                        "settings:\n  space_options: {channels: 8, cells_per_stage: 3}\n")
    results = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "harness.sweep", str(f), "--results", str(results)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cells_dir = results / "k" / "cells"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(list(cells_dir.glob("*.parquet"))) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(cells_dir.glob("*.parquet")))
    assert 2 <= done_before < 6, "kill landed midway"

    res = sweep([f, "--results", results])
    assert res.returncode == 0, res.stderr
    assert f"{6 - done_before} to run" in res.stderr
    assert not list((results / "k").rglob(".tmp-*"))  # what the kill left is cleaned
    cells = pd.read_parquet(cells_dir)
    assert len(cells) == 6 and cells.cell_id.is_unique and (cells.status == "ok").all()
    traj = pd.read_parquet(results / "k" / "trajectory")
    assert traj.groupby("cell_id").size().eq(25).all() and traj.cell_id.nunique() == 6


def test_fresh_machine_without_table_says_once_how_to_get_it(tmp_path, monkeypatch):
    import io

    from harness.config import parse
    from harness.sweep import make_context

    monkeypatch.setenv("HARNESS_DATA", str(tmp_path / "empty-data"))
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "empty-cache"))
    out = io.StringIO()
    ctx = make_context(parse({"grid": {"seed": [0]}}, "x.yaml"), out=out)
    assert ctx.table_dir is None and ctx.table_files == ()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "NAS-Bench-201-v1_1-096897.pth" in lines[0] and "convert" in lines[0]


def test_table_is_built_from_the_data_root_on_first_use_and_shipped(tmp_path, monkeypatch, data_root):
    import dataclasses
    import io

    from harness import tables
    from harness.config import parse
    from harness.sweep import make_context

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(tables, "_verified_dirs", {})
    out = io.StringIO()
    ctx = make_context(parse({"grid": {"seed": [0]}}, "x.yaml"), out=out)
    assert out.getvalue() == ""
    assert Path(ctx.table_dir).is_relative_to(tmp_path / "cache")
    names = {name for name, _ in ctx.table_files}
    assert {"table.parquet", "metadata.json"} <= names
    assert tables.local_table_dir(ctx) == ctx.table_dir  # same machine, same content: no copy
    # A worker on another node (the driver's path is not there) materialises a verified copy in its cache.
    monkeypatch.setattr(tables, "_verified_dirs", {})
    remote = dataclasses.replace(ctx, table_dir=str(tmp_path / "driver-only" / "nasbench201"))
    local = Path(tables.local_table_dir(remote))
    assert local.parent == tmp_path / "cache" / tables.SHIPPED_DIR
    assert (local / "table.parquet").read_bytes() == (Path(ctx.table_dir) / "table.parquet").read_bytes()
