"""A toy benchmark for the toy space, written the way a user adds one (docs/ARCHITECTURE.md).

Its "table" is a formula: the accuracy of an arch is 90 + 2 per conv3x3 + 1 per conv1x1, so a test
can check every looked-up value; `convert` writes that rule's version into the table folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from benchmarks import BenchmarkSpec
from benchmarks._columns import MetricColumn
from benchmarks.errors import ArchNotInBenchmarkError

NAME = "toy_bench"
METRIC_COLUMNS = (
    MetricColumn("toy_acc", "float64", "toy accuracy (%): 90 + 2 per conv3x3 + 1 per conv1x1", headline=("*",)),
    MetricColumn("toy_n_conv", "int64", "convolutions in the chain"),
)
BONUS = {"conv3x3": 2.0, "conv1x1": 1.0, "skip": 0.0}


def accuracy(arch_key: str) -> float:
    return 90.0 + sum(BONUS[op] for op in arch_key.split("|"))


class ToyTable:
    def __init__(self, table_dir: Path) -> None:
        self.metadata = json.loads((Path(table_dir) / "metadata.json").read_text())
        self.sha256 = hashlib.sha256((Path(table_dir) / "metadata.json").read_bytes()).hexdigest()

    def lookup(self, arch_key: str) -> dict:
        ops = arch_key.split("|")
        if any(op not in BONUS for op in ops):
            raise ArchNotInBenchmarkError(f"{arch_key!r} is not a toy_chain arch")
        return {"toy_acc": accuracy(arch_key), "toy_n_conv": sum(op != "skip" for op in ops)}


def convert(source: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metadata.json").write_text(json.dumps({"rule": "90 + 2 x conv3x3 + 1 x conv1x1", "source": str(source)}))
    return out_dir


def resolve_table(data_root: Path, cache_root: Path, configured: Path | None = None) -> Path | None:
    out = Path(configured) if configured else Path(cache_root) / NAME
    return out if (out / "metadata.json").exists() else convert(Path(data_root), out)


SPEC = BenchmarkSpec(
    name=NAME, convert=convert, open_table=ToyTable, resolve_table=resolve_table, obtain_hint="nothing to obtain",
    spaces=("toy_chain",), description="a formula standing in for a table", metrics=METRIC_COLUMNS,
)
