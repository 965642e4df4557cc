"""Packed cells (harness/packing.py): the plan, and a packed sweep on real Ray with a worker that dies
inside a pack: one row per cell, finished cells of the pack not run again, the dead one retried."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness import packing
from harness.config import parse
from harness.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def cells(grid, **settings):
    return list(parse({"name": "p", "benchmark": "none", "grid": grid, "settings": settings}, "<test>").cells)


def test_packs_hold_one_kind_each_and_keep_grid_order():
    cs = cells({"seed": list(range(5)), "mode": ["oneshot", "iterative"], "dataset": ["cifar10", "cifar100"]})
    packs = packing.plan(cs, 3, workers=1)
    assert sorted(c.cell_id for p in packs for c in p) == sorted(c.cell_id for c in cs)  # each cell once
    for p in packs:
        assert len(p) <= 3 and len({packing.kind(c) for c in p}) == 1
        assert [c.seed for c in p] == sorted(c.seed for c in p)
    assert len(packs) == 4 * 2  # 4 kinds of 5 cells: packs of 3 + 2


def test_auto_packs_short_searches_only_and_keeps_every_worker_busy():
    oneshot = cells({"seed": list(range(400))}, mode="oneshot")
    iterative = cells({"seed": list(range(400))}, mode="iterative")
    labelled = cells({"seed": list(range(40))}, mode="oneshot", variant="labels")
    assert {len(p) for p in packing.plan(oneshot, "auto", workers=2)} == {50}  # 20 s / 0.4 s
    assert {len(p) for p in packing.plan(iterative, "auto", workers=2)} == {5}  # 20 s / 4 s
    assert {len(p) for p in packing.plan(labelled, "auto", workers=2)} == {1}  # minutes per search
    assert {len(p) for p in packing.plan(oneshot[:20], "auto", workers=2)} == {5}  # two packs per worker
    darts = cells({"seed": list(range(8))}, space="darts", mode="oneshot")
    assert {len(p) for p in packing.plan(darts, "auto", workers=1)} == {1}  # no estimate: not packed
    # Measured times of rows already in the folder win over the built-in estimate.
    measured = {packing.kind(oneshot[0]): 2.0}
    assert {len(p) for p in packing.plan(oneshot, "auto", workers=2, measured=measured)} == {10}


def test_measured_search_s_is_the_median_of_ok_rows_per_kind(tmp_path):
    from harness import store
    from harness.runner import RunContext, run_cell

    c = cells({"seed": [0]}, mode="oneshot", space_options={"channels": 4, "cells_per_stage": 1})[0]
    row, trajectory = run_cell(c, RunContext(sweep="p", benchmark="none"))
    for i, s in enumerate((1.0, 3.0, 2.0, 100.0)):  # rows as the store gives them back (options as JSON)
        store.write_cell(tmp_path, {**row, "cell_id": f"c{i}", "search_s": s,
                                    "status": "failed" if s == 100.0 else "ok"}, [])
    rows = store.read_cells(tmp_path).to_dict("records")
    assert packing.measured_search_s(rows) == {packing.kind(c): 2.0}


@pytest.mark.parametrize("value", [0, -1, "many", True, 1.5])
def test_bad_cells_per_trial_names_the_key(value):
    with pytest.raises(ConfigError, match="<test>:cells_per_trial"):
        parse({"name": "p", "grid": {"seed": [0]}, "cells_per_trial": value}, "<test>")


@pytest.mark.slow
def test_packed_sweep_with_a_worker_death_inside_a_pack(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: pk\ncells_per_trial: 3\nmax_retries: 1\nbenchmark: none\ngrid:\n  seed: [0, 1, 2, 3, 4, 5]\n"
                 "settings:\n  mode: oneshot\n  space_options: {channels: 4, cells_per_stage: 1}\n")
    results = tmp_path / "r"
    run = [sys.executable, "-m", "harness.sweep", str(f), "--results", str(results)]
    listing = subprocess.run([*run, "--dry-run"], cwd=REPO, capture_output=True, text=True, timeout=120).stdout
    ids = [line.split()[0] for line in listing.splitlines() if line.split()[1:2] == ["todo"]]
    assert len(ids) == 6
    victim = ids[1]  # the second cell of the first pack: its worker dies once, after the first cell's row
    env = {**os.environ, "FREEDARTS_KILL_CELLS": f"{victim}:1", "FREEDARTS_FAULT_DIR": str(tmp_path / "faults")}
    res = subprocess.run([*run, "-v"], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    assert "6 cells in 2 trials" in res.stderr
    rows = pd.read_parquet(results / "pk" / "cells").set_index("cell_id")
    assert len(rows) == 6 and (rows.status == "ok").all()
    assert rows.loc[ids[0], "attempt"] == 1  # finished before the death: kept, not run again
    assert rows.loc[victim, "attempt"] == 2 and rows.loc[ids[2], "attempt"] == 2  # run by the retried trial
    assert (rows.loc[ids[3:], "attempt"] == 1).all()
    # Same rows as unpacked cells: packing is a run option, not part of a cell.
    again = subprocess.run([*run, "--cells-per-trial", "1"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "0 to run" in again.stderr
    # Four more seeds, packed by `auto` from the search times of the rows already in the folder
    # (~0.1 s each: as many as fit, capped at two packs for the one worker).
    f.write_text(f.read_text().replace("seed: [0, 1, 2, 3, 4, 5]", "seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"))
    more = subprocess.run([*run, "--cells-per-trial", "auto", "--max-concurrent", "1", "-v"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert more.returncode == 0, more.stderr
    assert "4 cells in 2 trials" in more.stderr
    assert len(pd.read_parquet(results / "pk" / "cells")) == 10
