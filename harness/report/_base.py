"""Report building blocks shared by every section: the section registry, method names, formatting.

A section is a function `(cells, trajectory, out_dir, options) -> Fragment`, registered with
`@section(name, applies=..., order=...)`; `harness.report.build_report` runs, in `order`, every
section whose `applies(cells, trajectory)` is true. Space-specific sections live in their own
module (`nb201.py`: Table 3 and Fig. 2) and are imported by `harness/report/__init__.py`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness import store
from harness.report._latex import latex_escape  # noqa: F401  (re-exported: sections import it from here)

COLUMNS_FROM = ("own", "cifar10")


@dataclass(frozen=True)
class Method:
    """A row of the paper's tables: a (variant, mode) pair and its name in the paper."""

    name: str
    variant: str
    mode: str


# The paper's method names, in its Table 3 row order ("Comparison on different scoring paradigms").
METHODS = (
    Method("one-shot FreeDARTS", "labels", "oneshot"),
    Method("FreeDARTS", "labels", "iterative"),
    Method("one-shot FreeDARTS-L", "random_labels", "oneshot"),
    Method("FreeDARTS-L", "random_labels", "iterative"),
    Method("one-shot FreeDARTS-D", "D", "oneshot"),
    Method("FreeDARTS-D", "D", "iterative"),
)
METHOD_NAME = {(m.variant, m.mode): m.name for m in METHODS}

# Paper search cost in seconds on one GPU (§4: 3.6 s NB201, 6.3 s NB1Shot1, 8.5 s DARTS, 12.7 s
# MobileNet), iterative FreeDARTS-D; keyed by (space, variant, mode). Spaces add theirs here.
PAPER_SEARCH_COST_S: dict[tuple[str, str, str], float] = {("nasbench201", "D", "iterative"): 3.6,
                                                         ("nasbench1shot1", "D", "iterative"): 6.3,
                                                         ("mobilenet", "D", "iterative"): 12.7}

# Cell inputs that identify a cell or a Table 3 group, or legitimately differ inside one (seed, dataset).
_GROUP_KEYS = ("cell_id", "sweep", "space", "dataset", "variant", "mode", "seed", "config_json")
# The other inputs (alpha_scale, flags, ...): a (space, variant, mode) group should hold one value of each.
_SETTING_COLUMNS = tuple(n for n, _ in store._INPUTS if n not in _GROUP_KEYS)

NOT_RUN = "—"
NO_DATA = "no data"


# -- small helpers ----------------------------------------------------------------------------------
_ABS_PATH = re.compile(r"(?<![\w.~-])/[^\s;,'\"()]+")


def _cut_path(match: re.Match) -> str:
    parts = match.group(0).split("/")[1:]
    return match.group(0) if len(parts) < 2 else "…/" + "/".join(parts[-2:])


def display_error(message: object) -> str:
    """An error for a report: one line, absolute paths cut to `…/<last two parts>` (no machine paths)."""
    return _ABS_PATH.sub(_cut_path, " ".join(str(message or "unknown error").split()))


def short_error(message: object, limit: int = 100) -> str:
    """One short reason from a one-line error: the first clause (before '; '), at most `limit` chars."""
    text = display_error(message)
    text = text.split("; ", 1)[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_diff(value: float) -> str:
    d = round(value, 2)
    return f"{d + 0.0:+.2f}"  # + 0.0 turns -0.0 into 0.0


def md_escape(text: str) -> str:
    return text.replace("|", r"\|")


@dataclass(frozen=True)
class ReportOptions:
    columns_from: str = "own"


@dataclass
class Fragment:
    """What a section produced: its markdown for report.md, the files it wrote, text for stdout."""

    markdown: str
    files: list[Path] = field(default_factory=list)
    console: str = ""


SectionFn = Callable[[pd.DataFrame, pd.DataFrame, Path, ReportOptions], Fragment]
AppliesFn = Callable[[pd.DataFrame, pd.DataFrame], bool]


@dataclass(frozen=True)
class Section:
    name: str
    applies: AppliesFn
    render: SectionFn
    order: int = 500


SECTIONS: dict[str, Section] = {}


def section(name: str, applies: AppliesFn, order: int = 500):
    """Register a report section; sections run by `order` (then name) when `applies(cells, traj)`."""

    def register(fn: SectionFn) -> SectionFn:
        if name in SECTIONS:
            raise ValueError(f"report section {name!r} registered twice")
        SECTIONS[name] = Section(name, applies, fn, order)
        return fn

    return register


def method_column(frame: pd.DataFrame) -> pd.Series:
    """The search method of each row (`harness.methods`); rows from before the method axis are FreeDARTS."""
    if "method" not in frame:
        return pd.Series("freedarts", index=frame.index, dtype=object)
    return frame["method"].astype(object).where(frame["method"].notna(), "freedarts")


# -- row labels: method + proxy + n_samples, and the settings that vary within a label ---------------
_LABEL_COLUMNS = ("method", "proxy", "n_samples", "variant", "mode")


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def method_label(row) -> str:
    """A cell's row name: FreeDARTS by the paper's names, a baseline by method, proxy and n_samples.

    e.g. "FreeDARTS-D", "one-shot FreeDARTS", "zero_cost (synflow, N=1000)", "zero_cost (snip, N=30)",
    "zero_cost_pt (synflow)", "random", "most_params (N=1000)".
    """
    method = row.get("method") if _present(row.get("method")) else "freedarts"
    if method == "freedarts":
        return METHOD_NAME.get((row["variant"], row["mode"]), f"FreeDARTS {row['variant']}/{row['mode']}")
    parts = [str(row["proxy"])] if _present(row.get("proxy")) else []
    n = int(row["n_samples"]) if _present(row.get("n_samples")) else None
    if n is not None and not (method == "random" and n == 1) and not (method == "zero_cost_pt" and n == 1):
        parts.append(f"pool {n}" if method == "zero_cost_pt" else f"N={n}")
    return f"{method} ({', '.join(parts)})" if parts else str(method)


def _setting_value(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def settings_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells' settings as strings: every input but the identity, label and seed/dataset columns, with
    `space_options` expanded into one column per option (so a swept preset shows as `preset`)."""
    cols = [c for c in _SETTING_COLUMNS if c in cells and c not in _LABEL_COLUMNS and c != "space_options"]
    out = pd.DataFrame({c: [_setting_value(v) if _present(v) else "" for v in cells[c]] for c in cols},
                       index=cells.index)
    if "space_options" in cells:
        options = [json.loads(o) if isinstance(o, str) and o else {} for o in cells["space_options"]]
        for key in sorted({k for o in options for k in o}):
            out[key] = [_setting_value(o[key]) if key in o else "" for o in options]
    return out


def _distinguishing(columns: list[str], group: pd.DataFrame) -> list[str]:
    """The varying settings worth naming: a column whose values follow from an already named one is left out
    (a DARTS preset fixes channels, layers and the default alpha_scale; code_mode fixed abs_weights in
    results/table7), so the groups stay the same and the label short. Space options are named first."""
    ordered = [c for c in columns if c not in _SETTING_COLUMNS] + [c for c in columns if c in _SETTING_COLUMNS]
    if "preset" in ordered:
        ordered.remove("preset")
        ordered.insert(0, "preset")
    kept: list[str] = []
    for c in ordered:
        if not any(group.groupby(k)[c].nunique().max() == 1 for k in kept):
            kept.append(c)
    return [c for c in columns if c in kept]


def setting_sort_key(setting: str):
    """Settings in numeric order where they are numbers (alpha_scale=1e-05 before 0.0001)."""
    key = []
    for part in setting.split(", ") if setting else ():
        name, _, value = part.partition("=")
        try:
            key.append((name, 0, float(value), ""))
        except ValueError:
            key.append((name, 1, 0.0, value))
    return key


def labelled(cells: pd.DataFrame) -> pd.DataFrame:
    """cells + `_method`, `label` (method_label), `setting` (the settings that differ between cells of
    the same label, e.g. "alpha_scale=0.01") and `row_label` (label, plus the setting in brackets).

    A table grouped by `row_label` groups by every swept axis but seed and dataset, so nothing is pooled
    silently; `setting` is "" where a label's cells agree on every setting. Settings implied by a named one
    are not repeated (`_distinguishing`); the sweep's config.yaml holds every cell's full settings.
    """
    cells = cells.assign(_method=method_column(cells))
    present = [c for c in _LABEL_COLUMNS if c in cells]  # what method_label reads
    labels = [method_label(r) for r in cells[present].to_dict("records")]  # not iterrows: a Series per row
    cells = cells.assign(label=pd.Series(labels, index=cells.index, dtype=object))
    settings = settings_frame(cells)
    varying: dict[str, list[str]] = {}
    for label, idx in cells.groupby("label").groups.items():
        group = settings.loc[idx]
        varying[label] = _distinguishing([c for c in settings.columns if group[c].nunique() > 1], group)
    texts = [", ".join(f"{c}={settings.at[i, c]}" for c in varying[lab]) for i, lab in zip(cells.index, labels)]
    cells = cells.assign(setting=pd.Series(texts, index=cells.index, dtype=object))
    row_labels = [f"{lab} [{t}]" if t else lab for lab, t in zip(labels, texts)]
    return cells.assign(row_label=pd.Series(row_labels, index=cells.index, dtype=object))


def freedarts_only(cells: pd.DataFrame, trajectory: pd.DataFrame | None = None):
    """The FreeDARTS rows of cells (and of trajectory, matched by cell_id): what Table 3 / Fig. 2 pool."""
    cells = cells[method_column(cells) == "freedarts"]
    if trajectory is None:
        return cells
    return cells, trajectory[trajectory["cell_id"].isin(set(cells["cell_id"]))]


def has_space(space: str) -> AppliesFn:
    return lambda cells, trajectory: bool((cells["space"] == space).any())


def sweep_name(cells: pd.DataFrame) -> str:
    """The sweep name(s) of the cells, for captions and LaTeX labels ("table3", "bias+table2")."""
    names = sorted(str(n) for n in cells["sweep"].dropna().unique()) if "sweep" in cells else []
    return "+".join(names) or "results"


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


