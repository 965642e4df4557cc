"""Report building blocks shared by every section: the section registry, method names, formatting.

A section is a function `(cells, trajectory, out_dir, options) -> Fragment`, registered with
`@section(name, applies=..., order=...)`; `harness.report.build_report` runs, in `order`, every
section whose `applies(cells, trajectory)` is true. Space-specific sections live in their own
module (`nb201.py`: Table 3 and Fig. 2) and are imported by `harness/report/__init__.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness import store

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
def short_error(message: object, limit: int = 100) -> str:
    """One short reason from a one-line error: the first clause (before '; '), at most `limit` chars."""
    text = " ".join(str(message or "unknown error").split())
    text = text.split("; ", 1)[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_diff(value: float) -> str:
    d = round(value, 2)
    return f"{d + 0.0:+.2f}"  # + 0.0 turns -0.0 into 0.0


def latex_escape(text: str) -> str:
    repl = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "|": r"\textbar{}",
            "<": r"\textless{}", ">": r"\textgreater{}", "—": "--", "…": r"\ldots{}", "×": r"$\times$",
            "±": r"$\pm$"}
    return "".join(repl.get(ch, ch) for ch in text)


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


def freedarts_only(cells: pd.DataFrame, trajectory: pd.DataFrame | None = None):
    """The FreeDARTS rows of cells (and of trajectory, matched by cell_id): what Table 3 / Fig. 2 pool."""
    cells = cells[method_column(cells) == "freedarts"]
    if trajectory is None:
        return cells
    return cells, trajectory[trajectory["cell_id"].isin(set(cells["cell_id"]))]


def has_space(space: str) -> AppliesFn:
    return lambda cells, trajectory: bool((cells["space"] == space).any())


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


