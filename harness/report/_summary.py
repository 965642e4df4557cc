"""The one group summary every report section uses: n, mean and sample std of a group's values.

    s = summarize(ok_values(group, "nb201_cifar10_test_acc"))   # Summary(n=10, mean=93.6, std=0.2)
    s.pm()                                                        # "93.60 ± 0.20"

Sample std (ddof=1), NaN below two values; mean NaN for an empty group. Only `ok` rows count
(`ok_values`): a failed or no_data cell has no value, and each section says how many there were.
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
