"""Benchmark registry: one `BenchmarkSpec` per tabular NAS benchmark, looked up by name.

Each benchmark module (`benchmarks/<name>.py`) converts its raw source ONCE into
`<cache>/<name>/table.parquet` + `metadata.json` and opens that table for O(1) lookups; this file
only lists them, so adding NB301/NB101 is one module plus one entry in `_SPECS` (see README.md).
Importing this package does no I/O.

    >>> from benchmarks import get_benchmark
    >>> from benchmarks.paths import cache_root, data_root
    >>> bench = get_benchmark("nasbench201")
    >>> table_dir = bench.resolve_table(data_root(), cache_root())   # None when no data is available
    >>> bench.open_table(table_dir).lookup("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archcodec import registry
from benchmarks._columns import MetricColumn
from benchmarks import nasbench101, nasbench201, nasbench301, nb101_predicted, nb301_distilled, yahpo_nb301


@dataclass(frozen=True)
class BenchmarkSpec:
    """What the harness needs to know about one benchmark.

    Attributes:
        name: registry key, also the table's folder name under the cache root.
        convert: `(source, out_dir) -> out_dir`, raw source to table + metadata.
        open_table: `(table_dir) -> table` with `lookup(arch_key) -> dict[str, value]` (the `metrics`;
            a miss raises `ArchNotInBenchmarkError`), `sha256` (str) and `metadata` (dict, its `source`).
        resolve_table: `(data_root, cache_root, configured=None) -> table_dir | None`.
        obtain_hint: one line telling a user how to get and convert the raw data.
        spaces: the search spaces (see `spaces.SPACES`) whose arch keys this benchmark answers.
        description: one line for listings.
        metrics: the values a lookup returns (`benchmarks._columns.MetricColumn`); the results
            store's metric columns and the reports' dataset -> metric maps are derived from them.
    """

    name: str
    convert: Callable[[Path, Path], Path]
    open_table: Callable[[Path], Any]
    resolve_table: Callable[..., Path | None]
    obtain_hint: str
    spaces: tuple[str, ...]
    description: str
    metrics: tuple[MetricColumn, ...]

    def headline_metric(self, dataset: str) -> str | None:
        """The column that reports a search on `dataset` (e.g. NB201 cifar100 -> cifar100_test_acc); None if none."""
        for column in self.metrics:
            if dataset in column.headline or "*" in column.headline:
                return column.name
        return None

    def dataset_metrics(self) -> dict[str, str]:
        """{search dataset: headline column} for the datasets named explicitly, in declaration order."""
        return {d: c.name for c in self.metrics for d in c.headline if d != "*"}


_SPECS: tuple[BenchmarkSpec, ...] = (
    # Order = the results table's metric column order (harness/store.py); append new benchmarks.
    BenchmarkSpec(
        name=nasbench201.NAME,
        metrics=nasbench201.METRIC_COLUMNS,
        convert=nasbench201.convert,
        open_table=nasbench201.open_table,
        resolve_table=nasbench201.resolve_table,
        obtain_hint=nasbench201.OBTAIN_HINT,
        spaces=("nasbench201",),
        description="NAS-Bench-201 / NATS-Bench tss: 15,625 cells, 200-epoch CIFAR-10/100 and ImageNet16-120 accuracies",
    ),
    BenchmarkSpec(
        name=nasbench101.NAME,
        metrics=nasbench101.METRIC_COLUMNS,
        convert=nasbench101.convert,
        open_table=nasbench101.open_table,
        resolve_table=nasbench101.resolve_table,
        obtain_hint=nasbench101.OBTAIN_HINT,
        spaces=("nasbench1shot1",),
        description="NAS-Bench-101 (own tfrecord reader; or the staged partial data): CIFAR-10 accuracies per repeat, keyed by module hash",
    ),
    BenchmarkSpec(
        name=nasbench301.NAME,
        metrics=nasbench301.METRIC_COLUMNS,
        convert=nasbench301.convert,
        open_table=nasbench301.open_table,
        resolve_table=nasbench301.resolve_table,
        obtain_hint=nasbench301.OBTAIN_HINT,
        spaces=("darts",),
        description="NAS-Bench-301 official surrogate (nasbench301 0.3, nb_models_1.0) in an isolated environment",
    ),
    BenchmarkSpec(
        name=yahpo_nb301.NAME,
        metrics=yahpo_nb301.METRIC_COLUMNS,
        convert=yahpo_nb301.convert,
        open_table=yahpo_nb301.open_table,
        resolve_table=yahpo_nb301.resolve_table,
        obtain_hint=yahpo_nb301.OBTAIN_HINT,
        spaces=("darts",),
        description="NAS-Bench-301 via the YAHPO-Gym v2 ONNX surrogate (not the official one): CIFAR-10 val acc",
    ),
    BenchmarkSpec(
        name=nb101_predicted.NAME,
        metrics=nb101_predicted.METRIC_COLUMNS,
        convert=nb101_predicted.convert,
        open_table=nb101_predicted.open_table,
        resolve_table=nb101_predicted.resolve_table,
        obtain_hint=nb101_predicted.OBTAIN_HINT,
        spaces=("nasbench1shot1",),
        description="NB101 PREDICTED: LightGBM on the staged NB101 validation accuracies, every NB1Shot1 space-3 cell (own column)",
    ),
    BenchmarkSpec(
        name=nb301_distilled.NAME,
        metrics=nb301_distilled.METRIC_COLUMNS,
        convert=nb301_distilled.convert,
        open_table=nb301_distilled.open_table,
        resolve_table=nb301_distilled.resolve_table,
        obtain_hint=nb301_distilled.OBTAIN_HINT,
        spaces=("darts",),
        description="NAS-Bench-301 distilled: LightGBM fit to 10,000 official NB301 v0.9 predictions (validated in metadata.json)",
    ),
)


BENCHMARKS: dict[str, BenchmarkSpec] = registry.build(_SPECS, "benchmark")


def list_benchmarks() -> list[str]:
    """Registered benchmark names, sorted."""
    return sorted(BENCHMARKS)


def get_benchmark(name: str) -> BenchmarkSpec:
    """The spec registered as `name`.

    Raises:
        UnknownNameError: (archcodec.registry, a ValueError) naming the valid names and the closest one.
    """
    return registry.lookup(BENCHMARKS, "benchmark", name)
