"""`python -m harness.reproduce` and results/REPRODUCTION.md: verdicts, shared cells, profiles, and the
committed table rebuilt from the committed Parquet (a verdict that changes fails here).

    python -m pytest tests/test_reproduction.py -q      # ~1 min on 2 shared CPU cores (reads every results folder)

After changing report code or results, regenerate and commit:

    python -c "from harness.reproduction import write_reproduction; write_reproduction('results')"
"""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness import reproduce, store
from harness.reproduction import (MD_NAME, NO_PAPER_NUMBER, NOT_RUN, TEX_NAME, TRAIN_BN_NOTE, Frames, Row,
                                  provenance_line, reproduction_latex, reproduction_markdown, reproduction_rows)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"


# -- verdicts -----------------------------------------------------------------------------------------
def test_verdict_within_the_paper_band_is_reproduced_and_outside_it_is_not():
    paper = dict(item="x", paper="93.64 ± 0.24", paper_mean=93.64, paper_std=0.24)
    assert Row(**paper, values=(93.10, 93.20, 93.30)).verdict() == "reproduced"   # |Δ| 0.44 <= 0.5 floor
    assert Row(**paper, values=(92.90, 93.00, 93.10)).verdict() == "outside"      # |Δ| 0.64 > max(0.5, 0.48, 2 SE)
    wide = dict(paper, paper_std=1.0)
    assert Row(**wide, values=(92.90, 93.00, 93.10)).verdict() == "reproduced"    # 2 σ_paper = 2.0


def test_verdict_counts_our_own_standard_error():
    paper = dict(item="x", paper="45.62 ± 0.39", paper_mean=45.62, paper_std=0.39)
    noisy = Row(**paper, values=(42.0, 45.0, 46.0, 41.5))                         # mean 43.6, SE ~1.1
    assert noisy.tolerance() == pytest.approx(2 * noisy.se)
    assert noisy.verdict() == "reproduced"
    lo, hi = noisy.ci95()
    assert lo < noisy.mean < hi and "95 % CI" in noisy.ours() and "n=4" in noisy.ours()


def test_one_seed_has_no_interval_and_is_judged_on_the_paper_band_alone():
    row = Row("x", "6.0", 6.0, 0.0, values=(6.4,))
    assert math.isnan(row.se) and row.ours() == "6.40 (n=1)" and row.verdict() == "reproduced"
    assert Row("x", "6.0", 6.0, 0.0, values=(6.6,)).verdict() == "outside"


def test_verdicts_without_a_comparison_say_why():
    assert Row("x", "76.4", 76.4, why="no ImageNet here").verdict() == "not reproducible here: no ImageNet here"
    assert Row("x", "76.4", 76.4).verdict() == NOT_RUN
    assert Row("Fig. 3", "figure", source="fig3/report/fig3_alpha_scale.png").verdict() == NO_PAPER_NUMBER
    assert Row("Fig. 6", "figure", source=NOT_RUN).verdict() == NOT_RUN
    caveat = Row("x", "6.65", 6.65, 0.52, values=(7.0, 7.3), caveat="on the YAHPO surrogate").verdict()
    assert caveat == "reproduced (on the YAHPO surrogate)"


def test_a_figure_drawn_from_part_of_its_sweep_says_which_cells_did_not_run(tmp_path):
    import yaml

    from harness.reproduction import figure_rows

    folder = tmp_path / "fig6"
    (folder / "report").mkdir(parents=True)
    (folder / "report" / "fig6_zero_cost_pt.png").write_bytes(b"png")
    cells = [{"cell_id": f"c{i}", "dataset": d, "seed": 0, "space_options": {"preset": p}}
             for i, (d, p) in enumerate([("cifar10", "cifar8"), ("cifar100", "cifar8"), ("imagenet", "imagenet")])]
    (folder / "config.yaml").write_text(yaml.safe_dump({"cells": cells}))
    store.write_cell(folder, {"cell_id": "c0", "sweep": "fig6", "status": "ok", "seed": 0}, [])
    store.write_cell(folder, {"cell_id": "c1", "sweep": "fig6", "status": "ok", "seed": 0}, [])
    row = next(r for r in figure_rows(Frames(tmp_path)) if r.item.startswith("Fig. 6"))
    assert row.verdict() == f"{NO_PAPER_NUMBER} (1 of 3 cells of fig6 not run: dataset=imagenet)"


def test_the_train_bn_finding_is_stated_where_its_rows_appear():
    rows = [Row("Table 5: FreeDARTS", "6.65", 6.65, 0.52, values=(7.0,), noise=True), Row("Table 3", "1", 1.0)]
    md = reproduction_markdown(rows)
    assert TRAIN_BN_NOTE in md and "Table 5: FreeDARTS †" in md
    assert TRAIN_BN_NOTE not in reproduction_markdown(rows[1:])
    tex = reproduction_latex(rows)
    assert r"\caption{" in tex and r"\toprule" in tex and "rounding noise" in tex


# -- the committed table ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def committed_frames():
    return Frames(RESULTS)


def test_committed_reproduction_rebuilds_identically(committed_frames):
    rows, provenance = reproduction_rows(committed_frames), provenance_line(committed_frames)
    for name, text in ((MD_NAME, reproduction_markdown(rows, provenance)), (TEX_NAME, reproduction_latex(rows, provenance))):
        kept = (RESULTS / name).read_text()
        if text != kept:
            diff = "".join(list(difflib.unified_diff(kept.splitlines(True), text.splitlines(True), f"committed/{name}",
                                                     f"rebuilt/{name}"))[:40])
            pytest.fail(f"results/{name} differs from a rebuild from the committed Parquet (a verdict or number "
                        f"changed: regenerate and commit it):\n{diff}")


def test_committed_reproduction_covers_every_item_and_states_the_darts_finding(committed_frames):
    text = (RESULTS / MD_NAME).read_text()
    for item in ("Table 2:", "Table 3:", "Table 4:", "Table 5:", "Table 6:", "Table 7:", "Fig. 2", "Fig. 3", "Fig. 4",
                 "Fig. 5", "Fig. 6", "Fig. 7", "Fig. 8", "bias", "Search cost"):
        assert item in text, f"REPRODUCTION.md has no row for {item}"
    assert TRAIN_BN_NOTE in text  # the committed DARTS / NB1Shot1 -D rows are train-BN rows
    for marker in (str(REPO), "/home/", "/root/", "/work/", "/tmp/"):
        assert marker not in text


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in RESULTS.glob("*/cells")))
def test_committed_rows_hold_no_machine_paths(folder):
    found = reproduce.machine_paths(RESULTS / folder)
    assert not found, (f"results/{folder} rows hold absolute paths, e.g. {found[0][0]}: {found[0][1][:200]}; "
                       "fix with python scripts/portable_rows.py results/*/")


def test_machine_path_pattern():
    for text in ("looked in: /work/shared/data/ImageNet16", "{'path': '/home/me/x.csv'}", "table /tmp/t/nb101-1"):
        assert reproduce.MACHINE_PATH.search(text), text
    for text in ("looked in: $HARNESS_DATA/ImageNet16", "…/freedarts-tables/nb101-1", "1<-0", "a/b/c",
                 "https://github.com/x/y", "|nor_conv_3x3~0|+|skip_connect~0|none~1|"):
        assert not reproduce.MACHINE_PATH.search(text), text


# -- profiles and shared cells ------------------------------------------------------------------------
def test_profiles_name_existing_sweeps_and_every_quick_cell_is_a_full_cell():
    profiles = reproduce.load_profiles()
    assert {"quick", "full"} <= set(profiles)
    cells = {name: set() for name in profiles}
    for name, profile in profiles.items():
        for step in profile.steps:
            sweep, selected = reproduce.step_cells(step)  # a filter that selects nothing raises here
            assert selected, step.label()
            cells[name] |= {(sweep.name, c.cell_id) for c in selected}
    assert cells["quick"] <= cells["full"], "quick cells outside the full profile would not count towards it"


def _row(cell_id: str, status: str = "ok", benchmark: str = "nasbench201", sweep: str = "a") -> dict:
    return {"cell_id": cell_id, "sweep": sweep, "space": "nasbench201", "dataset": "cifar10", "variant": "D",
            "mode": "iterative", "seed": 0, "status": status, "benchmark": benchmark, "cifar10_test_acc": 93.5}


class _Cell:
    def __init__(self, cell_id: str) -> None:
        self.cell_id = cell_id


def test_a_shared_cell_is_copied_once_with_its_trajectory_and_provenance(tmp_path):
    store.write_cell(tmp_path / "a", _row("c1"), [{"cell_id": "c1", "step": 0}, {"cell_id": "c1", "step": 1}])
    store.write_cell(tmp_path / "a", _row("c2", status="failed"), [])
    store.write_cell(tmp_path / "a", _row("c3", benchmark="other"), [])
    store.write_cell(tmp_path / "b", _row("c4", sweep="b"), [])
    index = reproduce.share_index(tmp_path)
    cells = [_Cell(i) for i in ("c1", "c2", "c3", "c4", "c5")]
    found = reproduce.shareable(cells, tmp_path / "b", "nasbench201", index)
    assert found == {"c1": tmp_path / "a"}  # failed, other-benchmark, own and unknown cells are not copied
    assert reproduce.copy_rows(found, tmp_path / "b") == 1
    assert set(store.cell_statuses(tmp_path / "b")) == {"c1", "c4"}
    copied = store.read_cells(tmp_path / "b").set_index("cell_id")
    assert copied.loc["c1", "sweep"] == "a" and copied.loc["c1", "cifar10_test_acc"] == 93.5
    assert len(pq.read_table(tmp_path / "b" / store.TRAJECTORY_DIR / "c1.parquet")) == 2
    assert reproduce.shareable(cells, tmp_path / "b", "nasbench201", reproduce.share_index(tmp_path)) == {}


def test_a_dirty_tree_gets_a_banner():
    assert "DIRTY" in reproduce.dirty_banner({"git_dirty": True})
    assert reproduce.dirty_banner({"git_dirty": False}) is None


def test_dry_run_plans_without_running(tmp_path, capsys):
    assert reproduce.main(["--profile", "quick", "--results", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "[1/" in out and "profile quick:" in out and not any(tmp_path.iterdir())


def test_unknown_profile_is_one_line(tmp_path, capsys):
    assert reproduce.main(["--profile", "nope", "--results", str(tmp_path)]) == reproduce.EXIT_BAD_INPUT
    assert "choose one of" in capsys.readouterr().err


@pytest.mark.parametrize("status, code", [("ok", 0), ("failed", 1)])
def test_a_step_whose_cells_all_have_rows_starts_no_sweep_and_answers_its_exit_code(tmp_path, monkeypatch, status, code):
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text("profiles:\n  t:\n    steps:\n      - {sweep: quickstart, only: [variant=labels]}\n")
    monkeypatch.setattr(reproduce, "PROFILES_FILE", profiles)
    (cell,) = reproduce.step_cells(reproduce.Step("quickstart", ("variant=labels",)))[1]
    store.write_cell(tmp_path / "quickstart", _row(cell.cell_id, status=status, sweep="quickstart"), [])
    monkeypatch.setattr(reproduce, "run_step", lambda *a: pytest.fail("a sweep driver started for a complete step"))
    rebuilt = []
    monkeypatch.setattr(reproduce, "rebuild_reports", lambda results, folders: rebuilt.append(folders))
    assert reproduce.main(["--profile", "t", "--results", str(tmp_path)]) == code
    assert rebuilt == [["quickstart"]]
    (line,) = (tmp_path / reproduce.RUN_LOG).read_text().splitlines()
    record = json.loads(line)
    assert record["profile"] == "t" and record["steps"][0]["exit"] == code and "git_dirty" in record
