"""How a benchmark module declares the metric columns its lookups return.

Each benchmark module holds `METRIC_COLUMNS: tuple[MetricColumn, ...]` (registered as
`BenchmarkSpec.metrics`), so the results store (`harness/store.py`) and the reports derive their
columns and dataset -> metric maps from the registry instead of repeating the names.
`predicted=True` marks a value that a model produced (a surrogate or a predictor), as opposed to
a result looked up from a training run; a report must never mix the two in one column.
"""

from __future__ import annotations

from typing import NamedTuple


class MetricColumn(NamedTuple):
    """One value a lookup returns.

    Attributes:
        name: the key in the lookup's dict (and the results column, when `in_store`).
        dtype: Arrow type alias: "float64", "int64", "bool" or "string".
        meaning: one line, with the unit (written into the table's metadata.json too).
        predicted: a model (surrogate, predictor) produced it, not a training run.
        in_store: a column of the results table (`harness.store.CELL_SCHEMA`); False = kept only in
            the row's `metrics_json` (a new column changes the store's schema: bump its
            STORE_VERSION so that `upgrade` rewrites older part files).
        per_step: also a column of the trajectory table (looked up for every pruning step's arch).
        headline: the search datasets whose accuracy this column reports in the paper's tables
            ("*" = whatever the search dataset, e.g. NB301 predicts CIFAR-10 for every search).
    """

    name: str
    dtype: str
    meaning: str
    predicted: bool = False
    in_store: bool = True
    per_step: bool = False
    headline: tuple[str, ...] = ()
