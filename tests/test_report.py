"""harness.report on a synthetic results directory written with harness.store (no Ray, no search)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from harness import report, store

REPO = Path(__file__).resolve().parents[1]
DNF = ("DataNotFoundError: cifar100 training images not found; looked in: /data/cifar100, "
       "/root/.cache/freedarts/cifar100; set HARNESS_DATA or images_dir")


def _cell(cell_id: str, dataset: str, variant: str, mode: str, seed: int, *, status: str = "ok",
          metrics: tuple[float, float, float] | None = None, error: str | None = None,
          lookup_status: str = "ok", search_s: float = 1.0) -> dict:
    ok_metrics = status == "ok" and metrics is not None and lookup_status == "ok"
    values = metrics if ok_metrics else (math.nan, math.nan, math.nan)
    return {
        "cell_id": cell_id, "sweep": "synthetic", "space": "nasbench201", "dataset": dataset,
        "variant": variant, "mode": mode, "seed": seed, "alpha_scale": 1e-3, "status": status,
        "error": error, "search_s": search_s if status == "ok" else None, "device": "cpu",
        **dict(zip(store.METRICS, values)),
        "lookup_status": lookup_status if status == "ok" else "skipped",
        "lookup_error": None if lookup_status == "ok" else "arch |x~0| not in table",
    }


def _trajectory(cell: dict, start: float) -> list[dict]:
    keys = ("cell_id", "sweep", "space", "dataset", "variant", "mode", "seed", "alpha_scale")
    return [{**{k: cell[k] for k in keys}, "step": t, "alpha_arch": f"arch{t}",
             "cifar10_test_acc": start + 0.5 * t, "cifar100_test_acc": start - 20 + 0.5 * t,
             "imagenet16_test_acc": start - 50 + 0.5 * t} for t in range(25)]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results") / "synthetic"
    cells = [
        # FreeDARTS-D: cifar10-searched seeds 93.0 / 94.0 (their cifar100 / imagenet metrics are
        # 70 / 72 and 45 / 46, used only with --columns-from cifar10); cifar100-searched 60 / 62.
        _cell("d-c10-0", "cifar10", "D", "iterative", 0, metrics=(93.0, 70.0, 45.0), search_s=0.4),
        _cell("d-c10-1", "cifar10", "D", "iterative", 1, metrics=(94.0, 72.0, 46.0), search_s=0.6),
        _cell("d-c100-0", "cifar100", "D", "iterative", 0, metrics=(90.0, 60.0, 40.0)),
        _cell("d-c100-1", "cifar100", "D", "iterative", 1, metrics=(91.0, 62.0, 41.0)),
        # FreeDARTS (labels): one cifar10 seed; every cifar100 cell failed for lack of images.
        _cell("l-c10-0", "cifar10", "labels", "iterative", 0, metrics=(93.2, 69.0, 43.0)),
        _cell("l-c100-0", "cifar100", "labels", "iterative", 0, status="failed", error=DNF),
        _cell("l-c100-1", "cifar100", "labels", "iterative", 1, status="failed", error=DNF),
        # one-shot FreeDARTS-D: searched fine, but the arch was not in the benchmark table.
        _cell("do-c10-0", "cifar10", "D", "oneshot", 0, metrics=(1.0, 1.0, 1.0), lookup_status="not_in_table"),
    ]
    for c in cells:
        traj = _trajectory(c, 80.0 + c["seed"]) if (c["variant"], c["mode"], c["status"]) == ("D", "iterative", "ok") else []
        store.write_cell(root, c, traj)
    return root


@pytest.fixture(scope="module")
def own(results) -> dict:
    return report.report(results)


@pytest.fixture(scope="module")
def from_c10(results) -> dict:
    return report.report(results, results / "report-c10", columns_from="cifar10")


def _row(md: str, name: str) -> list[str]:
    """The cells of the markdown table row whose first cell is `name`."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == name:
            return cells[1:]
    raise AssertionError(f"no row {name!r} in:\n{md}")


def test_table3_numbers_paper_and_difference(results, own):
    md = (results / "report" / "table3.md").read_text()
    d = _row(md, "FreeDARTS-D")
    assert d[0:3] == ["93.50 ± 0.71 (n=2)", "93.64 ± 0.24", "-0.14"]      # CIFAR-10
    assert d[3:6] == ["61.00 ± 1.41 (n=2)", "71.30 ± 1.01", "-10.30"]     # CIFAR-100 from cifar100 searches
    assert d[6:9] == ["—", "45.62 ± 0.39", "—"]                           # ImageNet16-120: not run
    fd = _row(md, "FreeDARTS")
    assert fd[0:3] == ["93.20 (n=1)", "93.04 ± 0.54", "+0.16"]
    assert _row(md, "FreeDARTS-L") == ["—", "92.86 ± 0.60", "—", "—", "69.67 ± 0.87", "—", "—", "43.17 ± 1.34", "—"]
    assert _row(md, "Optimal") == ["", "94.37", "", "", "73.51", "", "", "47.31", ""]
    rows = [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ")][1:]
    assert rows == [m.name for m in report.METHODS] + ["Optimal"]
    assert own["table3"].console == md


def test_all_failed_says_no_data_with_reason_footnote(results, own):
    md = (results / "report" / "table3.md").read_text()
    c100 = _row(md, "FreeDARTS")[3]
    assert c100.startswith("no data [")
    mark = c100.split("[")[1].rstrip("]")
    note = next(line for line in md.splitlines() if line.startswith(f"{mark}. "))
    assert "FreeDARTS / CIFAR-100" in note and "2 of 2 cells" in note
    assert "DataNotFoundError: cifar100 training images not found (×2)" in note
    assert "/root/.cache" not in note                                     # shortened
    assert _row(md, "FreeDARTS")[5] == "—"                                # no difference without a number
    # ok cells whose lookup failed: no number either, and the reason is the lookup status
    oneshot = _row(md, "one-shot FreeDARTS-D")[0]
    assert oneshot.startswith("no data [")
    assert "lookup not_in_table" in md


def test_default_columns_never_borrow_another_search_dataset(results, own):
    md = (results / "report" / "table3.md").read_text()
    assert "71.00" not in md and "45.50" not in md                        # cifar10-searched cells' other metrics
    assert "each column from searches on that dataset" in md


def test_columns_from_cifar10_uses_cifar10_searched_cells(results, from_c10):
    md = (results / "report-c10" / "table3.md").read_text()
    assert "CIFAR-10-searched" in md and "CIFAR-100 (C10-searched) ours" in md
    d = _row(md, "FreeDARTS-D")
    assert d[0:3] == ["93.50 ± 0.71 (n=2)", "93.64 ± 0.24", "-0.14"]
    assert d[3:6] == ["71.00 ± 1.41 (n=2)", "71.30 ± 1.01", "-0.30"]
    assert d[6:9] == ["45.50 ± 0.71 (n=2)", "45.62 ± 0.39", "-0.12"]
    assert _row(md, "FreeDARTS")[3:6] == ["69.00 (n=1)", "70.10 ± 1.48", "-1.10"]


def test_latex_is_a_booktabs_tabular(results, own):
    tex = (results / "report" / "table3.tex").read_text()
    for token in (r"\begin{tabular}", r"\toprule", r"\midrule", r"\bottomrule", r"\end{tabular}",
                  r"$93.50 \pm 0.71$", "$-0.14$", "no data", "Optimal"):
        assert token in tex
    assert "DataNotFoundError" in tex and "_" not in tex.replace(r"\_", "")


def test_fig2_png_and_report_md(results, own):
    png = results / "report" / "fig2_trajectory.png"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    stats = report.trajectory_stats(store.read_trajectory(results))
    assert set(stats["dataset"]) == {"cifar10", "cifar100"} and set(stats["variant"]) == {"D"}
    first = stats[(stats["dataset"] == "cifar10") & (stats["step"] == 0)].iloc[0]
    assert (first["mean"], round(first["std"], 4), first["count"]) == (80.5, 0.7071, 2)
    text = (results / "report" / "report.md").read_text()
    assert text.startswith("# FreeDARTS report: synthetic")
    # The two cells without images are no_data (rows written as failed + DataNotFoundError read so).
    assert "8 cells: 6 ok, 0 failed, 2 no data" in text and "FreeDARTS-D 0.80 s" in text
    for piece in ("## Table 3", "## Search cost", "(fig2_trajectory.png)", "## Cells with no data",
                  "DataNotFoundError: cifar100 training images not found | 2 | cifar100"):
        assert piece in text
    cost = (results / "report" / "search_cost.md").read_text()
    assert "| nasbench201 | FreeDARTS-D | cifar10, cifar100 | 4 | 0.800 | 0.750 | 3.6 | cpu (×4) |" in cost


def test_fig2_skipped_without_trajectory(tmp_path, caplog):
    store.write_cell(tmp_path, _cell("x", "cifar10", "D", "oneshot", 0, metrics=(93.0, 70.0, 45.0)), [])
    frags = report.report(tmp_path)
    assert not (tmp_path / "report" / "fig2_trajectory.png").exists()
    assert "Skipped: no iterative trajectory" in (tmp_path / "report" / "report.md").read_text()
    assert "Fig. 2 skipped" in caplog.text
    assert "failures" not in frags                                        # no failed cells, no section


def test_sections_registry():
    ordered = [s.name for s in sorted(report.SECTIONS.values(), key=lambda s: (s.order, s.name))]
    core = ["table2", "table3", "fig2", "fig3", "bias", "search_cost", "failures"]
    assert [n for n in ordered if n in core] == core  # other spaces' sections sit in between
    assert ordered[-3:] == ["search_cost", "failures", "no_data"]
    with pytest.raises(ValueError, match="registered twice"):
        report.section("table3", applies=lambda c, t: True)(lambda *a: None)


def test_mixed_settings_are_named(results):
    cells = store.read_cells(results)
    assert report.mixed_settings(cells) == {}
    cells.loc[cells["cell_id"] == "d-c10-1", "alpha_scale"] = 1.0
    assert report.mixed_settings(cells) == {"alpha_scale": ["0.001", "1.0"]}


def test_latex_escape():
    assert report.latex_escape("a_b 50% |x~0| ×2") == r"a\_b 50\% \textbar{}x\textasciitilde{}0\textbar{} $\times$2"


def test_short_error():
    assert report.short_error(DNF) == "DataNotFoundError: cifar100 training images not found"
    assert len(report.short_error("x" * 300)) == 100
    assert report.short_error(None) == "unknown error"


def test_main_prints_paths_and_table(results, capsys):
    assert report.main([str(results), "--out", str(results / "report-cli")]) == 0
    out = capsys.readouterr().out
    assert f"wrote {results / 'report-cli' / 'table3.md'}" in out and "| FreeDARTS-D | 93.50 ± 0.71 (n=2) |" in out


def test_cli_on_empty_dir_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness.report", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert str(tmp_path) in proc.stderr and "python -m harness.sweep" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""
