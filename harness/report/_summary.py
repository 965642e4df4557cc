"""The one group summary every report section uses: n, mean and sample std of a group's values.

    s = summarize(ok_values(group, "nb201_cifar10_test_acc"))   # Summary(n=10, mean=93.6, std=0.2)
    s.pm()                                                        # "93.60 ± 0.20"

Sample std (ddof=1), NaN below two values; mean NaN for an empty group. Only `ok` rows count
(`ok_values`): a failed or no_data cell has no value, and each section says how many there were.
A table entry that also counts its group's cells and failures subclasses `GroupStats` and is built
with `GroupStats.of` (Table 3's `Entry`, Table 2's `Ours`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from harness import store


@dataclass(frozen=True)
class Summary:
    """n values, their mean and sample std (ddof=1; NaN when n < 2)."""

    n: int
    mean: float
    std: float

    def pm(self, digits: int = 2, sep: str = " ± ", empty: str = "—") -> str:
        """"mean ± std"; one value alone; `empty` for none."""
        if self.n == 0:
            return empty
        if self.n == 1 or math.isnan(self.std):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f}{sep}{self.std:.{digits}f}"


def summarize(values: Iterable[float] | pd.Series) -> Summary:
    """The summary of `values` (NaNs dropped)."""
    v = pd.Series(values, dtype=float).dropna()
    return Summary(len(v), float(v.mean()) if len(v) else math.nan, float(v.std(ddof=1)) if len(v) > 1 else math.nan)


def ok_values(group: pd.DataFrame, metric: str) -> pd.Series:
    """`metric` of the group's ok rows, NaNs dropped, as floats."""
    return group.loc[group["status"] == store.STATUS_OK, metric].dropna().astype(float)


@dataclass(frozen=True)
class GroupStats:
    """One metric over a group of cells: its ok values' n, mean and sample std, the group's cells, the
    failed ones. Subclass with `kw_only=True` to add a table entry's own fields; build with `of`."""

    n: int = 0
    mean: float = math.nan
    std: float = math.nan
    n_cells: int = 0
    n_failed: int = 0

    @classmethod
    def of(cls, group: pd.DataFrame, metric: str, **fields):
        """The statistics of `metric` over `group` (a cells table), plus a subclass's `fields`."""
        s = summarize(ok_values(group, metric))
        return cls(n=s.n, mean=s.mean, std=s.std, n_cells=len(group),
                   n_failed=int((group["status"] != store.STATUS_OK).sum()), **fields)
