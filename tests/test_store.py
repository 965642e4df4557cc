"""Parquet results: schema, atomic per-cell parts, replacement, plain-pandas reading."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from harness import store

REQUIRED = ["cell_id", "space", "dataset", "variant", "mode", "seed", "alpha_scale", "status", "error", "arch",
            "params_m", "search_s", "cifar10_test_acc", "cifar100_test_acc", "imagenet16_test_acc"]


def row(cell_id="c1", status="ok", **kw):
    base = {"cell_id": cell_id, "sweep": "t", "space": "nasbench201", "dataset": "cifar10", "variant": "D",
            "mode": "iterative", "seed": 0, "alpha_scale": 1e-3, "status": status,
            "started_at": datetime.now(timezone.utc)}
    return {**base, **kw}


def test_required_columns_are_in_the_schema():
    assert set(REQUIRED) <= set(store.CELL_COLUMNS)


def test_round_trip_with_plain_pandas(tmp_path):
    store.write_cell(tmp_path, row("a", arch="x", cifar10_test_acc=93.5),
                     [{"cell_id": "a", "step": 0, "alpha_arch": "x"}, {"cell_id": "a", "step": 1, "op": "none", "score": 0.0}])
    store.write_cell(tmp_path, row("b", status="failed", error="DataNotFoundError: nope"), [])
    cells = pd.read_parquet(tmp_path / "cells")
    assert sorted(cells.cell_id) == ["a", "b"]
    assert list(cells.columns) == list(store.CELL_COLUMNS)
    assert cells.set_index("cell_id").loc["b", "error"] == "DataNotFoundError: nope"
    assert pd.isna(cells.set_index("cell_id").loc["b", "cifar10_test_acc"])
    traj = pd.read_parquet(tmp_path / "trajectory")
    assert list(traj.step) == [0, 1]
    assert store.read_cells(tmp_path).shape == cells.shape


def test_rewriting_a_cell_replaces_its_row_and_trajectory(tmp_path):
    store.write_cell(tmp_path, row("a", status="ok"), [{"cell_id": "a", "step": 0}])
    store.write_cell(tmp_path, row("a", status="failed", error="x"), [])
    assert store.cell_statuses(tmp_path) == {"a": "failed"}
    assert len(store.read_cells(tmp_path)) == 1
    assert store.read_trajectory(tmp_path).empty
    assert not list((tmp_path / "cells").glob(".tmp*"))


def test_unknown_column_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not in the results schema"):
        store.write_cell(tmp_path, row("a", accuracy=1.0), [])


def test_empty_results_dir_reads_as_empty_frames_with_columns(tmp_path):
    assert list(store.read_cells(tmp_path).columns) == list(store.CELL_COLUMNS)
    assert store.read_trajectory(tmp_path).empty
    assert store.cell_statuses(tmp_path) == {}


def test_upgrade_rewrites_old_part_files_to_the_current_schema(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "cells").mkdir()
    old = pa.table({"cell_id": ["old"], "status": ["ok"], "seed": [1]})  # written before `method` existed
    pq.write_table(old, tmp_path / "cells" / "old.parquet")
    pq.write_table(old.set_column(0, "cell_id", pa.array(["old2"])), tmp_path / "cells" / "old2.parquet")
    store.write_cell(tmp_path, row("new", method="random"), [])
    read = store.read_cells(tmp_path).set_index("cell_id")  # two legacy files (read as one run) and a new one
    assert read.loc[["old", "old2", "new"], "method"].tolist() == ["freedarts", "freedarts", "random"]
    assert store.upgrade(tmp_path) == 2 and store.upgrade(tmp_path) == 0
    cells = pd.read_parquet(tmp_path / "cells").set_index("cell_id")  # plain pandas, one schema
    assert list(cells.reset_index().columns) == list(store.CELL_COLUMNS)
    assert cells.loc["old", "method"] == "freedarts" and cells.loc["new", "method"] == "random"


def test_metric_columns_are_derived_from_the_benchmark_registry():
    import pyarrow as pa

    from benchmarks import BENCHMARKS

    declared = [c for b in BENCHMARKS.values() for c in b.metrics]
    assert len({c.name for c in declared}) == len(declared)  # no two benchmarks claim one column
    for c in declared:
        assert (c.name in store.CELL_COLUMNS) == c.in_store, c.name
        if c.in_store:
            assert store.CELL_SCHEMA.field(c.name).type == pa.type_for_alias(c.dtype), c.name
        assert (c.name in store.TRAJECTORY_COLUMNS) == (c.in_store and c.per_step), c.name


def test_committed_results_have_exactly_the_derived_schema():
    """Deriving the columns must not change the schema committed part files were written with
    (the store would otherwise take them for damaged files, see `_check_footer`)."""
    from pathlib import Path

    import pyarrow.parquet as pq

    results = Path(__file__).resolve().parents[1] / "results"
    for sub, schema in ((store.CELLS_DIR, store.CELL_SCHEMA), (store.TRAJECTORY_DIR, store.TRAJECTORY_SCHEMA)):
        files = sorted(results.glob(f"*/{sub}/*.parquet"))
        assert files, f"no committed {sub} part files under {results}"
        for f in files[:: max(1, len(files) // 20)]:  # a spread of sweeps and cells; reading all takes long
            written = pq.read_schema(f)
            if (written.metadata or {}).get(b"freedarts_store") == store.STORE_VERSION:
                assert written.remove_metadata() == schema, f
