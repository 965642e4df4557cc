"""How a benchmark module declares the metric columns its lookups return.

Each benchmark module holds `METRIC_COLUMNS: tuple[MetricColumn, ...]`, so the results store and the
report can derive their schema and captions from the module instead of repeating the names.
`predicted=True` marks a value that a model produced (a surrogate or a predictor), as opposed to
a result looked up from a training run; a report must never mix the two in one column.
"""

from __future__ import annotations

from typing import NamedTuple


class MetricColumn(NamedTuple):
    """One column a lookup returns: its name, Arrow/pandas dtype name, one-line meaning, and provenance kind."""

    name: str
    dtype: str  # "float64", "bool", "int64", "string"
    meaning: str
    predicted: bool = False
