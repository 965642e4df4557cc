"""The paper beside our results, item by item: `results/REPRODUCTION.md` and `.tex` (issue 13 item 1).

    from harness.reproduction import write_reproduction
    write_reproduction(Path("results"))      # -> results/REPRODUCTION.md, results/REPRODUCTION.tex

A pure function of the Parquet rows under `results/<sweep>/cells` (no search code, no Ray, no clock), so
`tests/test_reproduction.py` rebuilds it from the committed rows and fails when a verdict changes. The
paper's numbers are the report modules' own constants (`harness/report/*`), never copied here.

Each row: the item, the paper's number, ours (mean ± sample std, the 95 % t-interval of the mean, n seeds),
Δ = ours − paper, and a verdict:

    reproduced                   |Δ| <= max(0.5, 2·σ_paper, 2·SE_ours)   (SE = std/√n; n = 1: SE left out)
    outside                      |Δ| above that
    not reproducible here: WHY   the input, benchmark or hardware the number needs is not available here
    not run                      the results folder has no cell (or figure file) for the item (e.g. the quick profile)
    no paper number              a figure or a qualitative claim: ours is the regenerated file

A verdict on another benchmark than the paper's (nb301_distilled, YAHPO: NB301 surrogates, not the paper's GIN) says so in the same cell.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from scipy import stats

from harness import store
from harness.report import darts, mobilenet, nb1shot1, nb201, table2
from harness.report._base import PAPER_SEARCH_COST_S, method_column, short_error
from harness.report._latex import latex_escape, latex_table

TOLERANCE_FLOOR = 0.5  # points (or M params): below this a difference is not worth a verdict
MD_NAME, TEX_NAME = "REPRODUCTION.md", "REPRODUCTION.tex"
NOT_RUN = "not run"
NO_PAPER_NUMBER = "no paper number"

# The finding every DARTS / NB1Shot1 FreeDARTS-D row carries (tests/test_fast_spaces.py::
# test_train_bn_batch_of_one_makes_the_logits_the_classifier_bias).
TRAIN_BN_NOTE = ("With the code-faithful bn_mode=train and FreeDARTS-D's single all-ones image, train-mode BN over one "
                 "image zeroes every spatial mean, so the DARTS and NB1Shot1 supernets' logits equal the classifier bias "
                 "whatever alpha is: their -D ZEROS scores are float rounding noise and the cells found there are not "
                 "driven by the data-agnostic signal (tests/test_fast_spaces.py::"
                 "test_train_bn_batch_of_one_makes_the_logits_the_classifier_bias). `bn_mode: eval` is the config field "
                 "that avoids it.")
NOISE_MARK = "†"


@dataclass(frozen=True)
class Row:
    """One line of the table: the paper's number and the values behind ours."""

    item: str
    paper: str                          # the paper's number as printed, or what the figure shows
    paper_mean: float = math.nan
    paper_std: float = 0.0              # 0 where the paper gives one number
    values: tuple[float, ...] = ()      # ours, one per seed (ok cells with the metric)
    unit: str = ""
    source: str = ""                    # results folder (or report file) the values come from
    why: str = ""                       # set -> "not reproducible here: why"
    caveat: str = ""                    # appended to the verdict (e.g. another benchmark than the paper's)
    noise: bool = False                 # the TRAIN_BN_NOTE applies
    digits: int = 2

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(pd.Series(self.values).mean()) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(pd.Series(self.values).std(ddof=1)) if self.n > 1 else math.nan

    @property
    def se(self) -> float:
        return self.std / math.sqrt(self.n) if self.n > 1 else math.nan

    @property
    def delta(self) -> float:
        return self.mean - self.paper_mean if self.n and not math.isnan(self.paper_mean) else math.nan

    def ci95(self) -> tuple[float, float]:
        if self.n < 2:
            return math.nan, math.nan
        half = float(stats.t.ppf(0.975, self.n - 1)) * self.se
        return self.mean - half, self.mean + half

    def tolerance(self) -> float:
        se = 0.0 if math.isnan(self.se) else self.se
        return max(TOLERANCE_FLOOR, 2 * self.paper_std, 2 * se)

    def verdict(self) -> str:
        if self.why:
            return f"not reproducible here: {self.why}"
        if math.isnan(self.paper_mean):
            text = NOT_RUN if self.source == NOT_RUN else NO_PAPER_NUMBER
            return f"{text} ({self.caveat})" if self.caveat else text
        if not self.n:
            return NOT_RUN
        text = "reproduced" if abs(self.delta) <= self.tolerance() + 1e-9 else "outside"
        return f"{text} ({self.caveat})" if self.caveat else text

    def ours(self) -> str:
        if not self.n:
            return self.source if math.isnan(self.paper_mean) and not self.why else "—"
        d = self.digits
        if self.n == 1:
            return f"{self.mean:.{d}f} (n=1)"
        lo, hi = self.ci95()
        return f"{self.mean:.{d}f} ± {self.std:.{d}f} (95 % CI {lo:.{d}f}–{hi:.{d}f}, n={self.n})"

    def delta_text(self) -> str:
        return "—" if math.isnan(self.delta) else f"{round(self.delta, self.digits) + 0.0:+.{self.digits}f}"  # no -0.00


# -- reading the rows ---------------------------------------------------------------------------------
class Frames(dict):
    """results/<sweep> name -> its cells (with `_method`), each folder read once; `root` = the results root."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)
        for cells_dir in sorted(self.root.glob(f"*/{store.CELLS_DIR}")):
            if any(cells_dir.glob("*.parquet")):
                cells = store.read_cells(cells_dir.parent)
                self[cells_dir.parent.name] = cells.assign(_method=method_column(cells))


def _option(options: object, key: str, default: str) -> str:
    try:
        return str(json.loads(str(options or "{}")).get(key, default))
    except (json.JSONDecodeError, AttributeError):
        return default


def _values(group: pd.DataFrame, metric: str, transform: Callable[[pd.Series], pd.Series] = lambda s: s) -> tuple[float, ...]:
    ok = group[group["status"] == store.STATUS_OK]
    return tuple(float(v) for v in transform(ok[metric].dropna().astype(float)).sort_index())


def _why_missing(group: pd.DataFrame, metric: str) -> str:
    """Why cells exist but none has the metric: their most common error, or their lookup status."""
    if group.empty:
        return ""
    if (group["status"] == store.STATUS_OK).any():
        ok = group[group["status"] == store.STATUS_OK]
        if ok[metric].notna().any():
            return ""
        looked = ", ".join(f"{n} {s}" for s, n in sorted(Counter(str(s) for s in ok["lookup_status"].dropna()).items()))
        return f"no {metric} for the {len(ok)} cells found (lookup: {looked})"
    errors = Counter(short_error(e) for e in group["error"].dropna())
    top = errors.most_common(1)[0][0] if errors else "no error recorded"
    if group["status"].eq(store.STATUS_NO_DATA).all():
        return f"input data missing here: {top} ({len(group)} no_data cells)"
    status = ", ".join(f"{n} {s}" for s, n in sorted(Counter(group["status"]).items()))
    return f"{top} ({status} cells)"


def _row(item: str, paper: tuple[float, float | None] | float, group: pd.DataFrame, metric: str, source: str, *,
         transform=lambda s: s, unit: str = "", caveat: str = "", noise: bool = False, digits: int = 2) -> Row:
    mean, std = paper if isinstance(paper, tuple) else (paper, 0.0)
    std = 0.0 if std is None else std
    paper_text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std else "")
    values = _values(group, metric, transform)
    why = "" if values else _why_missing(group, metric)
    if why and group["status"].eq(store.STATUS_FAILED).all():
        why = ""  # failed cells are a defect to show as one, not a limit of this machine
    return Row(item, paper_text, mean, std, values, unit, source, why, caveat if values else "", noise, digits)


def _noise(group: pd.DataFrame) -> bool:
    """FreeDARTS-D cells of a BN space scored with train-mode BN on one image."""
    d = group[(group["_method"] == "freedarts") & (group["variant"] == "D")]
    return bool(len(d)) and bool((d["bn_mode"].fillna("train") == "train").any())


# -- items ---------------------------------------------------------------------------------------------
def table2_rows(frames: Frames) -> list[Row]:
    cells = frames.get("table2")
    rows = []
    for name, method, values, _cost in table2.PAPER_TABLE2:
        if method is None:
            continue
        for dataset, paper in zip(table2.DATASET_METRIC, values):
            item = f"Table 2: {name} / {table2.DATASET_LABEL[dataset]}"
            if cells is None:
                rows.append(Row(item, f"{paper[0]:.2f}", paper[0], paper[1] or 0.0, source="table2"))
                continue
            g = cells[(cells["space"] == "nasbench201") & (cells["_method"] == method) & (cells["dataset"] == dataset)]
            if method == "freedarts":
                g = g[(g["variant"] == "D") & (g["mode"] == "iterative")]
            if method == "zero_cost":
                g = g[(g["n_samples"] == 1000) & (g["proxy"].fillna("synflow") == "synflow")]
            rows.append(_row(item, paper, g, table2.DATASET_METRIC[dataset], "table2"))
    rows.append(Row("Table 2: SETN, GDAS, DARTS, PC-DARTS, SNAS, NASWOT, TE-NAS, NASI, GradSign, KNAS", "quoted",
                    why="other papers' methods, quoted by the report, not run by this harness"))
    return rows


def table3_rows(frames: Frames) -> list[Row]:
    cells = frames.get("table3")
    rows = []
    for method in nb201.METHODS:
        for dataset, paper in zip(nb201.TABLE_DATASETS, nb201.PAPER_TABLE3[(method.variant, method.mode)]):
            item = f"Table 3: {method.name} / {nb201.DATASET_LABEL[dataset]}"
            if cells is None:
                rows.append(Row(item, f"{paper[0]:.2f} ± {paper[1]:.2f}", *paper, source="table3"))
                continue
            g = cells[(cells["space"] == "nasbench201") & (cells["_method"] == "freedarts") & (cells["dataset"] == dataset)
                      & (cells["variant"] == method.variant) & (cells["mode"] == method.mode)]
            rows.append(_row(item, paper, g, nb201.DATASET_METRIC[dataset], "table3"))
    return rows


def table4_rows(frames: Frames) -> list[Row]:
    cells = frames.get("table4")
    paper = nb1shot1.PAPER_FREEDARTS
    specs = (("Average test error (%)", paper["avg_test"], "nb101_test_acc"),
             ("Best valid error (%)", (paper["best_valid"], 0.0), "nb101_best_repeat_valid_acc"),
             ("Best test error (%)", (paper["best_test"], 0.0), "nb101_best_repeat_test_acc"))
    rows = []
    for what, (mean, std), metric in specs:
        item = f"Table 4: FreeDARTS (iterative -D, NB1Shot1 on NB101) {what}"
        paper_text = f"{mean:.1f}" + (f" ± {std:.1f}" if std else "")
        if cells is None:
            rows.append(Row(item, paper_text, mean, std, source="table4", digits=1))
            continue
        g = cells[(cells["space"] == "nasbench1shot1") & (cells["_method"] == "freedarts") & (cells["variant"] == "D")
                  & (cells["mode"] == "iterative")
                  & cells["space_options"].map(lambda o: _option(o, "edge_selection", "topk") == "topk")]
        n_ok = int((g["status"] == store.STATUS_OK).sum())
        errors = _values(g, metric, lambda s: 100.0 - s)
        if not n_ok:
            rows.append(_row(item, (mean, std), g, metric, "table4", noise=_noise(g), digits=1))
            continue
        if not errors:
            rows.append(Row(item, paper_text, mean, std, source="table4", noise=_noise(g), digits=1,
                            why=f"none of the {n_ok} cells found is in the staged NB101 data with this value (a partial "
                                "table: 30,031 of 423,624 cells, 30 with test accuracy; results/table4/report)"))
            continue
        best = what.startswith("Best")  # the best single repeat over all seeds: one number
        rows.append(Row(item, paper_text, mean, std, (min(errors),) if best else errors, source="table4",
                        noise=_noise(g), digits=1,
                        caveat="" if len(errors) == n_ok else f"{len(errors)} of {n_ok} found cells in the partial NB101 data"))
    return rows


def table5_rows(frames: Frames) -> list[Row]:
    cells = frames.get("table5")
    keys = {name: (key, avg) for name, key, avg, _best, _truth in darts.PAPER_TABLE5 if key is not None}
    rows = []
    for name, (key, avg) in keys.items():
        mean, std = (float(x) for x in avg.split("±"))
        item = f"Table 5: {name} (NB301 test error %)"
        if cells is None:
            rows.append(Row(item, avg, mean, std, source="table5"))
            continue
        g = cells[(cells["space"] == darts.SPACE) & (cells["dataset"] == "cifar10")
                  & cells["space_options"].map(lambda o: _option(o, "preset", "cifar8") == "cifar8")
                  & (cells["_method"] == key[0])]
        if key[0] == "freedarts":
            g = g[(g["variant"] == "D") & (g["mode"] == key[1])]
        ok = g[g["status"] == store.STATUS_OK]
        columns = darts.error_columns(ok)
        if not columns:
            rows.append(Row(item, avg, mean, std, source="table5", why=darts.error_column(ok)[1] if len(g) else ""))
            continue
        for column, _surrogate in columns:  # one verdict per surrogate, the closest to the official first
            caveat = "" if column == "nb301_val_err" else f"on {darts.CAVEAT_NAME[column]}, not the paper's NB301 GIN"
            named = f"Table 5: {name} (NB301 test error %, {darts.SHORT[column]})"
            rows.append(_row(named, (mean, std), g, column, "table5", caveat=caveat, noise=_noise(g)))
    return rows


def table6_rows(frames: Frames) -> list[Row]:
    cells = frames.get("table6")
    rows = []
    for preset, name in darts.CONFIGS.items():
        paper = darts.PAPER_TABLE6[preset]
        for what, value, metric, digits in (("Param (M)", paper[3], "params_m", 2), ("+x (M)", paper[4], "flops_m", 0)):
            item = f"Table 6: {name} ({preset}) {what} of the found cell"
            if cells is None:
                rows.append(Row(item, f"{value}", float(value), source="table6"))
                continue
            g = cells[(cells["space"] == darts.SPACE) & (cells["_method"] == "freedarts") & (cells["variant"] == "D")
                      & (cells["mode"] == "oneshot")
                      & cells["space_options"].map(lambda o, p=preset: _option(o, "preset", "cifar8") == p)]
            rows.append(_row(item, float(value), g, metric, "table6", noise=_noise(g), digits=digits))
        rows.append(Row(f"Table 6: {name} test errors (CIFAR-10 {paper[0]}, CIFAR-100 {paper[1]}, ImageNet {paper[2]})",
                        "trained", why="training the found cells (600 / 250 epochs) is out of scope"))
    return rows


def table7_rows(frames: Frames) -> list[Row]:
    cells = frames.get("table7")
    name, params, top1, _cost = mobilenet.PAPER_TABLE7[-1]
    item = f"Table 7: {name} (one-shot -D, MobileNet space) Param (M)"
    if cells is None:
        row = Row(item, f"{params}", params, source="table7")
    else:
        g = cells[(cells["space"] == mobilenet.SPACE) & (cells["_method"] == "freedarts") & (cells["variant"] == "D")
                  & (cells["mode"] == "oneshot")
                  & cells["space_options"].map(lambda o: _option(o, "code_mode", "False") in ("False", "false"))]
        row = _row(item, params, g, "params_m", "table7")
    return [row, Row(f"Table 7: {name} ImageNet top-1 {top1} %", f"{top1}",
                     why="needs 240 epochs of ImageNet training of the found network; no ImageNet here")]


def search_cost_rows(frames: Frames) -> list[Row]:
    rows = []
    for (space, variant, mode), seconds in sorted(PAPER_SEARCH_COST_S.items()):
        rows.append(Row(f"Search cost: {space} {variant}/{mode} (s, one GPU)", f"{seconds}",
                        why="no GPU here; our CPU seconds are in each report's search_cost table"))
    return rows


FIGURES = (
    ("Fig. 2: accuracy of argmax-α per pruning step (NB201)", "table3/report/fig2_trajectory.png"),
    ("Fig. 3: accuracy vs α scale (NB201)", "fig3/report/fig3_alpha_scale.png"),
    ("Fig. 4: FreeDARTS cells (DARTS space)", "table5/report/fig4_cifar8_oneshot.png"),
    ("Fig. 5: the MobileNet architecture found", "table7/report/fig5_mobilenet.png"),
    ("Fig. 6: Zero-Cost-PT cells (DARTS space)", "fig6/report/fig6_zero_cost_pt.png"),
    ("Fig. 7: zero-cost NAS picks (NB201 / DARTS)", "table2/report/fig7_nb201.png, fig7/report/fig7_darts.png"),
    ("Fig. 8: every FreeDARTS DARTS cell", "table5/report/fig8_cifar8_oneshot.png"),
    ("§4.5 parameter-intensive bias (claims, no numbers)", "bias/report/bias.md"),
)


def figure_rows(frames: Frames) -> list[Row]:
    results, rows = frames.root, []
    for item, files in FIGURES:
        present = [f for f in files.split(", ") if (results / f).exists()]
        why = ""
        if not present:  # a folder whose cells all failed (e.g. a method that does not support the space yet)
            cells = [frames[f.split("/")[0]] for f in files.split(", ") if f.split("/")[0] in frames]
            failed = [c for c in cells if len(c) and c["status"].eq(store.STATUS_FAILED).all()]
            if failed:
                why = f"every cell failed: {short_error(failed[0]['error'].dropna().iloc[0])}"
        unrun = "; ".join(u for f in files.split(", ") if (u := _unrun(results, f.split("/")[0], frames)))
        rows.append(Row(item, "figure" if item.startswith("Fig") else "claim", why=why,
                        source=", ".join(present) if present else NOT_RUN, caveat=unrun if present else ""))
    return rows


def _unrun(results: Path, folder: str, frames: Frames) -> str:
    """'k of n cells of <folder> not run (their varying settings)', read from the folder's config.yaml
    (every cell of the sweep file last run there); '' when every cell has a row."""
    import yaml

    path = results / folder / "config.yaml"
    if not path.exists():
        return ""
    cells = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)).get("cells") or []
    have = set(frames[folder]["cell_id"]) if folder in frames else set()
    missing = [c for c in cells if c.get("cell_id") not in have]
    if not missing:
        return ""
    varying = [k for k in missing[0] if k != "cell_id" and len({json.dumps(c.get(k), sort_keys=True) for c in cells}) > 1]
    settings = sorted({" ".join(f"{k}={c.get(k)}" for k in varying if not isinstance(c.get(k), dict)) for c in missing})
    return f"{len(missing)} of {len(cells)} cells of {folder} not run: " + "; ".join(settings)


ITEMS: tuple[Callable[[Frames], list[Row]], ...] = (
    table2_rows, table3_rows, table4_rows, table5_rows, table6_rows, table7_rows, figure_rows, search_cost_rows)


def provenance_line(frames: Frames) -> str:
    """Where the rows come from: how many, from a dirty git tree (issue 13 item 6), which engine and commits."""
    total, dirty, dirty_folders, engines, shas = 0, 0, [], Counter(), set()
    for name, cells in sorted(frames.items()):
        total += len(cells)
        n_dirty = int(cells["git_dirty"].fillna(False).astype(bool).sum())
        if n_dirty:
            dirty += n_dirty
            dirty_folders.append(name)
        engines.update(cells["engine"].fillna("reference").astype(str))
        shas |= set(cells["git_sha"].dropna().astype(str))
    if not total:
        return "No result rows."
    where = f" ({', '.join(dirty_folders)})" if dirty_folders else ""
    return (f"Provenance: {total:,} rows; {dirty:,} from a dirty git tree{where}; engine "
            + ", ".join(f"{e} {n:,}" for e, n in sorted(engines.items())) + f"; {len(shas)} git commit(s).")


def reproduction_rows(frames: Frames) -> list[Row]:
    return [row for item in ITEMS for row in item(frames)]


# -- writing --------------------------------------------------------------------------------------------
HEADER = ("item", "paper", "ours (mean ± std, 95 % CI, n)", "Δ", "verdict")
INTRO = ("Every table and figure of the FreeDARTS paper beside this harness's rows under results/ (regenerated by "
         "`python -m harness.reproduce`; a pure function of the committed Parquet). Verdict: reproduced when "
         f"|Δ| <= max({TOLERANCE_FLOOR}, 2·σ_paper, 2·SE_ours); outside otherwise; not reproducible here (and why) "
         "when this machine lacks the data, benchmark or hardware; not run when no cell exists; no paper number for "
         "figures and claims (ours = the regenerated file).")


def _counts(rows: list[Row]) -> str:
    counts = Counter(r.verdict().split(" (")[0].split(":")[0] for r in rows)
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))


def reproduction_markdown(rows: list[Row], provenance: str = "") -> str:
    lines = ["# Reproducing the FreeDARTS paper", "", INTRO, "", f"Items: {_counts(rows)}. {provenance}".strip(), "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in rows:
        item = r.item + (f" {NOISE_MARK}" if r.noise else "")
        cells = (item, r.paper, r.ours(), r.delta_text(), r.verdict())
        lines.append("| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |")
    if any(r.noise for r in rows):
        lines += ["", f"{NOISE_MARK} {TRAIN_BN_NOTE}"]
    return "\n".join(lines) + "\n"


def reproduction_latex(rows: list[Row], provenance: str = "") -> str:
    body = [[latex_escape(r.item + (f" {NOISE_MARK}" if r.noise else "")), latex_escape(r.paper), latex_escape(r.ours()),
             latex_escape(r.delta_text()), latex_escape(r.verdict())] for r in rows]
    notes = [INTRO] + ([provenance] if provenance else []) + (
        [f"{NOISE_MARK} {TRAIN_BN_NOTE}"] if any(r.noise for r in rows) else [])
    return latex_table(caption=f"The FreeDARTS paper reproduced item by item ({_counts(rows)}).",
                       label="tab:reproduction", colspec="p{4.2cm}p{1.6cm}p{4.0cm}rp{3.2cm}",
                       header=[" & ".join(latex_escape(h) for h in HEADER)], rows=body, notes=notes)


def write_reproduction(results: Path) -> list[Path]:
    """Write REPRODUCTION.md and .tex into `results` from the rows of its sweep folders."""
    frames = Frames(results)
    rows, provenance = reproduction_rows(frames), provenance_line(frames)
    md, tex = frames.root / MD_NAME, frames.root / TEX_NAME
    md.write_text(reproduction_markdown(rows, provenance))
    tex.write_text(reproduction_latex(rows, provenance))
    return [md, tex]
