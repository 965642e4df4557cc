"""`extra_benchmarks:` and `--relookup` (issue 12): one search, looked up in several benchmarks.

A tiny DARTS sweep runs on the in-process path the Ray trainable wraps, looked up in YAHPO with
`nb301_distilled` (a 300-row conversion in the official formats) as an extra benchmark: both columns
fill. Then the sweep file swaps them and `python -m harness.sweep FILE --relookup` recomputes only
the lookups: search columns, provenance and the trajectory file stay byte for byte, and the rows
name the new primary benchmark. Load-time errors name `file:extra_benchmarks`.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from benchmarks import nb301_distilled as nd
from harness import store
from harness.config import load, parse
from harness.errors import ConfigError, UnknownNameError
from harness.runner import run_cell
from harness.sweep import main as sweep_main
from harness.sweep import make_context
from test_benchmark_nb301_distilled import N_SLICE, write_official

SWEEP = textwrap.dedent("""
    name: both
    benchmark: {primary}
    extra_benchmarks: [{extra}]
    settings:
      space: darts
      dataset: cifar10
      variant: D
      mode: oneshot
      space_options: {{preset: cifar8, channels: 4, layers: 3}}
    grid:
      seed: [0, 1]
""")
SEARCH_COLUMNS = ("arch", "params_m", "flops_m", "score_passes", "loss", "search_s", "engine", "git_sha", "started_at")


@pytest.fixture(scope="module")
def cache(data_root, tmp_path_factory) -> Path:
    """A cache holding a small nb301_distilled table (300 real rows written in the official pickle formats)."""
    folder = data_root / "nasbench301"
    genotypes = nd.read_genotypes(folder / nd.GENOTYPE_FILE)
    values = nd.read_accuracies(folder / nd.ACCURACY_FILE, len(genotypes))
    source = write_official(tmp_path_factory.mktemp("nb301src"), genotypes[:N_SLICE], values[:N_SLICE])
    root = tmp_path_factory.mktemp("cache")
    nd.convert(source, root / nd.NAME, yahpo_dir=folder / "yahpo_nb301_v2")
    return root


def _sweep_file(tmp_path: Path, primary: str, extra: str) -> Path:
    path = tmp_path / f"{primary}.yaml"
    path.write_text(SWEEP.format(primary=primary, extra=extra))
    return path


def test_extra_benchmarks_fill_their_columns_and_relookup_swaps_the_primary(cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_CACHE", str(cache))
    sweep = load(_sweep_file(tmp_path, "yahpo_nb301", "nb301_distilled"))
    assert sweep.extra_benchmarks == ("nb301_distilled",)
    results = tmp_path / "results" / sweep.name
    ctx = make_context(sweep)
    for cell in sweep.cells:
        row, trajectory = run_cell(cell, ctx)
        store.write_cell(results, row, trajectory)
    before = store.read_cells(results).set_index("cell_id").sort_index()
    assert (before["status"] == "ok").all() and (before["benchmark"] == "yahpo_nb301").all()
    assert before["yahpo_nb301_val_err"].notna().all() and before["nb301d_val_err"].notna().all()
    for r in before.itertuples():
        lookups = json.loads(r.lookups_json)
        assert set(lookups) == {"yahpo_nb301", "nb301_distilled"}
        assert {v["status"] for v in lookups.values()} == {"ok"} and all(len(v["sha256"]) == 64 for v in lookups.values())
        values = json.loads(r.metrics_json)  # every value of both benchmarks
        assert values["nb301d_val_err"] == pytest.approx(r.nb301d_val_err)
        assert values["yahpo_nb301_val_err"] == pytest.approx(r.yahpo_nb301_val_err)
    trajectories = {p.name: p.read_bytes() for p in (results / store.TRAJECTORY_DIR).iterdir()}

    swapped = _sweep_file(tmp_path, "nb301_distilled", "yahpo_nb301")
    assert sweep_main([str(swapped), "--results", str(tmp_path / "results")]) == 0  # nothing to run: says so
    assert "note: 2 ok rows were looked up in other benchmarks than" in capsys.readouterr().err
    assert sweep_main([str(swapped), "--results", str(tmp_path / "results"), "--relookup"]) == 0
    assert sweep_main([str(swapped), "--results", str(tmp_path / "results")]) == 0
    assert "looked up in other benchmarks" not in capsys.readouterr().err
    after = store.read_cells(results).set_index("cell_id").sort_index()
    assert (after["benchmark"] == "nb301_distilled").all() and (after["lookup_status"] == "ok").all()
    assert after["nb301d_val_err"].tolist() == pytest.approx(before["nb301d_val_err"].tolist())
    assert after["yahpo_nb301_val_err"].tolist() == pytest.approx(before["yahpo_nb301_val_err"].tolist())
    assert after[list(SEARCH_COLUMNS)].equals(before[list(SEARCH_COLUMNS)])  # no search ran
    assert {p.name: p.read_bytes() for p in (results / store.TRAJECTORY_DIR).iterdir()} == trajectories
    assert after["benchmark_sha256"].str.len().eq(64).all()
    assert not any("/" in str(v) and str(cache) in str(v) for v in after["lookups_json"])  # no machine paths


def test_relookup_leaves_failed_rows_and_missing_cells_alone(cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_CACHE", str(cache))
    sweep = load(_sweep_file(tmp_path, "nb301_distilled", "yahpo_nb301"))
    results = tmp_path / "results" / sweep.name
    first, second = sweep.cells
    store.write_cell(results, {"cell_id": first.cell_id, "sweep": sweep.name, "status": "failed",
                               "error": "RuntimeError: boom"}, [])
    assert sweep_main([str(sweep.source), "--results", str(tmp_path / "results"), "--relookup"]) == 0
    assert "0 rows looked up again; 1 cells without a row and 1 rows not ok left alone" in capsys.readouterr().err
    row = store.read_cell_row(results, first.cell_id)
    assert row["status"] == "failed" and row["error"] == "RuntimeError: boom" and row["lookups_json"] is None
    assert store.read_cell_row(results, second.cell_id) is None


def test_a_benchmark_without_its_table_is_recorded_as_no_table(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path / "no-data"))  # nb301_distilled cannot be converted here
    yahpo = str(data_root / "nasbench301" / "yahpo_nb301_v2")   # the primary's table named in the sweep file
    sweep = parse({"benchmark": "yahpo_nb301", "benchmark_table": yahpo, "extra_benchmarks": ["nb301_distilled"],
                   "settings": {"space": "darts", "variant": "D", "mode": "oneshot",
                                "space_options": {"preset": "cifar8", "channels": 4, "layers": 3}}}, "x.yaml")
    ctx = make_context(sweep)
    assert [r.benchmark for r in ctx.extra_tables] == ["nb301_distilled"] and ctx.extra_tables[0].table_dir is None
    row, _ = run_cell(sweep.cells[0], ctx)
    assert row["status"] == "ok" and json.loads(row["lookups_json"])["nb301_distilled"] == {"status": "no_table"}
    assert row.get("nb301d_val_err") is None and row["yahpo_nb301_val_err"] > 0


@pytest.mark.parametrize("extra, error, match", [
    (["nb301_distiled"], UnknownNameError, "did you mean 'nb301_distilled'"),
    (["yahpo_nb301"], ConfigError, "named twice"),
    (["nb301_distilled", "nb301_distilled"], ConfigError, "named twice"),
    (["nasbench201"], ConfigError, "does not answer space 'darts'"),
    ("nb301_distilled yahpo", UnknownNameError, "x.yaml:extra_benchmarks"),
    ([3], ConfigError, "a list of benchmark names"),
])
def test_bad_extra_benchmarks_fail_at_load_naming_the_key(extra, error, match):
    raw = {"benchmark": "yahpo_nb301", "extra_benchmarks": extra, "settings": {"space": "darts", "variant": "D"}}
    with pytest.raises(error, match=match) as info:
        parse(raw, "x.yaml")
    assert "x.yaml:extra_benchmarks" in str(info.value)


def test_extra_benchmarks_need_a_primary():
    with pytest.raises(ConfigError, match="needs a primary benchmark"):
        parse({"benchmark": "none", "extra_benchmarks": ["yahpo_nb301"], "settings": {"space": "darts"}}, "x.yaml")


def test_committed_darts_and_nb101_sweeps_name_both_benchmarks():
    repo = Path(__file__).resolve().parents[1]
    for name in ("table5", "table6", "fig6", "fig7"):
        sweep = load(repo / "sweeps" / f"{name}.yaml")
        if any(c.space == "darts" for c in sweep.cells):
            assert sweep.benchmark == "nb301_distilled" and sweep.extra_benchmarks == ("yahpo_nb301",), name
    table4 = load(repo / "sweeps" / "table4.yaml")
    assert table4.benchmark == "nasbench101" and table4.extra_benchmarks == ("nb101_predicted",)
