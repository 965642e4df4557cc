"""Report sections of issue 4: Table 4 (NB1Shot1 on NB101: Average/Best, coverage) and Table 7 (MobileNet)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from harness import report, store
from harness.report import mobilenet as mb_report
from harness.report import nb1shot1

COVERAGE = "PARTIAL NB101 table: 30,031 of 423,624 cells at 108 epochs (7.09 %), 30 with test accuracy"


def _nb(cell_id: str, mode: str, seed: int, valid: float | None, test: float | None,
        best_valid: float | None = None, best_test: float | None = None) -> dict:
    found = valid is not None
    return {"cell_id": cell_id, "sweep": "t4", "space": "nasbench1shot1", "dataset": "cifar10", "variant": "D",
            "mode": mode, "seed": seed, "status": "ok", "search_s": 1.0 + seed, "device": "cpu",
            "arch": f"g{seed}#{seed:032x}", "params_m": 2.0, "nb101_hash": f"{seed:032x}",
            "nb101_valid_acc": valid, "nb101_test_acc": test,
            "nb101_best_repeat_valid_acc": best_valid if best_valid is not None else valid,
            "nb101_best_repeat_test_acc": best_test if best_test is not None else test,
            "lookup_status": "ok" if found else "not_in_table",
            "lookup_error": None if found else f"ArchNotInBenchmarkError: ...; the table is a {COVERAGE} (convert ...)"}


def _frame(rows: list[dict]) -> pd.DataFrame:
    return store._table(rows, store.CELL_SCHEMA).to_pandas()


def test_table4_average_and_best_follow_spec_5_2():
    cells = _frame([
        _nb("a", "iterative", 0, 94.0, 93.0, best_valid=94.5, best_test=93.6),
        _nb("b", "iterative", 1, 92.0, 91.0, best_valid=92.2, best_test=94.7),
        _nb("c", "iterative", 2, None, None),
        _nb("d", "oneshot", 0, 90.0, None),
    ])
    stats = nb1shot1.table4_stats(cells).set_index("mode")
    it = stats.loc["iterative"]
    assert it["avg_valid"] == pytest.approx(7.0) and it["std_valid"] == pytest.approx(math.sqrt(2))
    assert it["avg_test"] == pytest.approx(8.0) and it["n_test"] == 2
    assert it["best_valid"] == pytest.approx(5.5) and it["best_test"] == pytest.approx(5.3)
    assert (it["n_looked_up"], it["n_not_in_table"], it["n_ok"]) == (2, 1, 3)
    one = stats.loc["oneshot"]
    assert one["n_valid"] == 1 and one["n_test"] == 0 and math.isnan(one["avg_test"])
    md = nb1shot1.table4_markdown(cells)
    assert COVERAGE in md and "| paper: FreeDARTS |  | 7.3±2.4 | 6.0 | 5.3 |  | 6.3s |" in md
    assert "| ours: one-shot FreeDARTS-D | 10.00 (n=1) | no data |" in md
    assert "no nb101_predicted lookup in these rows" in md


def test_table4_shows_predicted_values_beside_looked_up_ones_never_mixed():
    rows = [_nb("a", "iterative", 0, 94.0, 93.0), _nb("b", "iterative", 1, None, None),
            _nb("c", "iterative", 2, None, None)]
    validation = {"holdout": {"all": {"n": 1041, "spearman": 0.932}, "space3": {"n": 815, "spearman": 0.942}}}
    for row, pred in zip(rows, (93.0, 91.0, 89.0)):
        row.update(nb101_pred_val_acc=pred, nb101_pred_in_training=row["cell_id"] == "a",
                   lookups_json=json.dumps({"nasbench101": {"status": row["lookup_status"]},
                                            "nb101_predicted": {"status": "ok", "validation": validation}}))
    cells = _frame(rows)
    it = nb1shot1.table4_stats(cells).iloc[0]
    assert it["n_valid"] == 1 and it["avg_valid"] == pytest.approx(6.0)       # looked up: cell a only
    assert it["n_pred"] == 3 and it["avg_pred"] == pytest.approx(9.0)         # predicted: all three, own column
    assert it["n_pred_only"] == 2
    md = nb1shot1.table4_markdown(cells)
    assert "| ours: FreeDARTS-D | 6.00 (n=1) | 7.00 (n=1) | 6.00 | 7.00 | 9.00±2.00 (n=3) |" in md
    assert "hold-out Spearman 0.942 (n=815, space-3 cells), 0.932 (n=1041, all held-out cells)" in md
    assert "1 of the 3 found cells were in the predictor's training split" in md
    archs = nb1shot1.architectures_markdown(cells)
    assert archs.count("| 11.00 |") == 1 and "valid err PREDICTED" in archs


def _mb(cell_id: str, seed: int, arch: str, params: float, *, code: bool = False, status: str = "ok") -> dict:
    return {"cell_id": cell_id, "sweep": "t7", "space": "mobilenet", "dataset": "imagenet", "variant": "D",
            "mode": "oneshot", "seed": seed, "status": status, "search_s": 10.0 if status == "ok" else None,
            "device": "cpu", "arch": arch if status == "ok" else None, "params_m": params if status == "ok" else None,
            "flops_m": 600.0 if status == "ok" else None, "lookup_status": "skipped",
            "error": None if status == "ok" else "DataNotFoundError: imagenet training images not found; looked in: x",
            "space_options": json.dumps({"code_mode": code, "width_mult": 1.0})}


def test_table7_reports_sizes_counts_biggest_op_and_failures():
    a = ",".join(["MBE6-K7"] * 3 + ["MBE3-K3"] * 18)
    b = ",".join(["MBE6-K7"] * 5 + ["skip"] * 16)
    cells = _frame([_mb("x", 0, a, 6.0), _mb("y", 1, b, 7.0), _mb("z", 0, "", 0.0, code=True, status="failed")])
    stats = mb_report.table7_stats(cells).set_index("code_mode")
    assert stats.loc[False, "params_m"] == pytest.approx(6.5) and stats.loc[False, "mbe6k7_blocks"] == "3–5"
    assert stats.loc[True, "n_failed"] == 1 and stats.loc[True, "error"].startswith("DataNotFoundError")
    refs = {"all MBE6-K7": (8.0, 1000.0), "supernet (7 options, weights only)": (27.0, math.nan)}
    md = mb_report.table7_markdown(cells, refs)
    assert "| paper: FreeDARTS | 6.2 |  | 76.4 |" in md and "reference: all MBE6-K7 | 8.00" in md
    assert "No MobileNet-space benchmark exists" in md and "all 1 cells failed: DataNotFoundError" in md
    assert "81 % of the all-MBE6-K7 network (8.00 M)" in mb_report.bias_markdown(cells, refs)


def test_sections_are_registered_for_their_spaces():
    assert {"table4", "table7"} <= set(report.SECTIONS)
