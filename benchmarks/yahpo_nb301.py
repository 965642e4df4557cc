"""NAS-Bench-301 through the YAHPO-Gym v2 surrogate (ONNX), run with onnxruntime in the harness environment.

This is NOT the official NB301 surrogate (that is `benchmarks.nasbench301`, isolated): YAHPO-Gym
trained its own network on NB301's ~60k training results. It is the embedded default for DARTS-space
sweeps because it needs nothing beyond `onnxruntime` and the staged files, and every row and report
names it (`benchmark = yahpo_nb301`, columns `yahpo_nb301_*`). Agreement with the official surrogate
is moderate (Spearman 0.59 against NASLib's 725 NB301 values; shared/data/README.md).

Files (`shared/data/nasbench301/yahpo_nb301_v2/`, from slds-lmu/yahpo_data v2_final 0e28806, Apache-2.0):
`model_v2.onnx` (inputs `x_cat` int32 [N, 34], `x_cont` float32 [N, 1] = epoch; output [N, 4] =
val_accuracy (fraction), val_cross_entropy, runtime (s), runtime_increase) and `encoding_v2.json`
(category codes; inactive = "#na#" = 0). The 34 categorical inputs are, in order, edge_normal_0..13,
edge_reduce_0..13, inputs_node_normal_3..5, inputs_node_reduce_3..5 (NB301's ConfigSpace names with
prefix `NetworkSelectorDatasetInfo_COLON_darts_COLON_`). We query epoch 98, the last YAHPO fidelity.

Metrics (percent): `yahpo_nb301_val_acc` (predicted CIFAR-10 validation accuracy, NB301 pipeline),
`yahpo_nb301_val_err` = 100 - it (Table 5's "test error", spec §5.3), `yahpo_nb301_runtime_s`.

    >>> from benchmarks import yahpo_nb301 as y
    >>> table = y.open_table(y.resolve_table(data_root(), cache_root()))
    >>> table.lookup("Genotype(normal=[...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])")

Lookups are cached per genotype string. A key outside the DARTS space raises `ArchNotInBenchmarkError`
naming the defect; a missing model folder raises `BenchmarkTableMissingError` naming where it looked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archcodec import darts as darts_key
from benchmarks._columns import MetricColumn
from benchmarks._surrogate import CachedSurrogate
from benchmarks.errors import ArchNotInBenchmarkError, BenchmarkTableMissingError

NAME = "yahpo_nb301"
VERSION = "YAHPO-Gym nb301 v2 (slds-lmu/yahpo_data v2_final 0e288068), epoch 98"
MODEL_FILE = "model_v2.onnx"
ENCODING_FILE = "encoding_v2.json"
DIR_NAMES: tuple[str, ...] = ("nasbench301/yahpo_nb301_v2", "yahpo_nb301_v2", "yahpo_data/nb301")
EPOCH = 98.0
PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
CAT_COLUMNS: tuple[str, ...] = (
    *(f"{PREFIX}edge_normal_{i}" for i in range(14)),
    *(f"{PREFIX}edge_reduce_{i}" for i in range(14)),
    *(f"{PREFIX}inputs_node_normal_{i}" for i in (3, 4, 5)),
    *(f"{PREFIX}inputs_node_reduce_{i}" for i in (3, 4, 5)),
)
OBTAIN_HINT = ("copy the folder nb301/ of github.com/slds-lmu/yahpo_data (branch v2_final: model_v2.onnx, "
               "encoding_v2.json) to $HARNESS_DATA/nasbench301/yahpo_nb301_v2, or set `benchmark_table:` to it")
METRIC_COLUMNS: tuple[MetricColumn, ...] = (
    MetricColumn("yahpo_nb301_val_acc", "float64",
                 "YAHPO-Gym v2 NB301 surrogate (ONNX), predicted CIFAR-10 validation accuracy at epoch 98, "
                 "percent; NOT the official nasbench301 ensemble", predicted=True, headline=("*",)),
    MetricColumn("yahpo_nb301_val_err", "float64",
                 "100 - yahpo_nb301_val_acc (the paper's Table 5 'test error', spec §5.3)", predicted=True),
    MetricColumn("yahpo_nb301_runtime_s", "float64", "YAHPO-predicted training runtime in seconds at epoch 98",
                 predicted=True, in_store=False),
)
METRIC_SEMANTICS = {c.name: c.meaning for c in METRIC_COLUMNS}


def config_of(genotype: dict[str, list]) -> dict[str, str]:
    """NB301's ConfigSpace assignment of a parsed genotype (as `nasbench301.representations` builds it)."""
    config: dict[str, str] = {}
    for cell in ("normal", "reduce"):
        start = 0
        for node in range(4):
            two = genotype[cell][2 * node: 2 * node + 2]
            for op, src in two:
                config[f"{PREFIX}edge_{cell}_{start + src}"] = op
            if node > 0:
                a, b = sorted(src for _, src in two)
                config[f"{PREFIX}inputs_node_{cell}_{node + 2}"] = f"{a}_{b}"
            start += node + 2
    return config


@dataclass(eq=False)
class YahpoNB301Table(CachedSurrogate):
    """The YAHPO NB301 ONNX surrogate behind the runner's table interface."""

    _session: Any = field(repr=False)
    _encoding: dict[str, dict[str, int]] = field(repr=False)

    @property
    def sha256(self) -> str:
        """sha256 of model_v2.onnx + encoding_v2.json (the model hash stored with every row)."""
        return str(self.metadata["model_sha256"])

    def encode(self, arch_key: str) -> np.ndarray:
        try:
            genotype = darts_key.parse(arch_key)
        except ValueError as exc:
            raise ArchNotInBenchmarkError(arch_key, str(self.path), hint=str(exc)) from None
        config = config_of(genotype)
        return np.array([self._encoding[c][config[c]] if c in config else self._encoding[c]["#na#"]
                         for c in CAT_COLUMNS], dtype=np.int32)

    def predict(self, arch_keys: list[str], epoch: float = EPOCH) -> np.ndarray:
        """[N, 4] raw outputs (val_accuracy fraction, val_cross_entropy, runtime, runtime_increase)."""
        x_cat = np.stack([self.encode(k) for k in arch_keys])
        x_cont = np.full((len(arch_keys), 1), epoch, dtype=np.float32)
        with self._lock:
            return np.asarray(self._session.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0], dtype=np.float64)

    def _predict_one(self, arch_key: str) -> dict[str, float]:
        out = self.predict([arch_key])[0]
        acc = 100.0 * float(out[0])
        return {"yahpo_nb301_val_acc": acc, "yahpo_nb301_val_err": 100.0 - acc, "yahpo_nb301_runtime_s": float(out[2])}


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for p in paths:
        digest.update(p.name.encode())
        digest.update(p.read_bytes())
    return digest.hexdigest()


def open_table(model_dir: Path) -> YahpoNB301Table:
    """Load the ONNX surrogate in `model_dir` (the folder holding model_v2.onnx and encoding_v2.json)."""
    model_dir = Path(model_dir).expanduser()
    files = [model_dir / MODEL_FILE, model_dir / ENCODING_FILE]
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise BenchmarkTableMissingError(NAME, str(model_dir), f"missing {', '.join(missing)}; fix: {OBTAIN_HINT}")
    import onnxruntime as ort  # local: importing the registry stays cheap

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # tiny model; one thread avoids spinning on shared CPUs
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(files[0]), sess_options=options, providers=["CPUExecutionProvider"])
    encoding = json.loads(files[1].read_text())
    absent = [c for c in CAT_COLUMNS if c not in encoding]
    if absent:
        raise BenchmarkTableMissingError(NAME, str(model_dir), f"{ENCODING_FILE} lacks {absent[0]}; fix: {OBTAIN_HINT}")
    metadata = {
        "benchmark": NAME, "version": VERSION, "source": f"{VERSION}: {model_dir}",
        "model_sha256": _sha256(files), "epoch": EPOCH, "metrics": METRIC_SEMANTICS,
        "onnxruntime": ort.__version__,
        "citation": "F. Pfisterer, L. Schneider, J. Moosbauer, M. Binder and B. Bischl, YAHPO Gym, AutoML-Conf 2022; "
                    "J. Siems et al., NAS-Bench-301, 2020",
    }
    return YahpoNB301Table(path=model_dir, metadata=metadata, _session=session, _encoding=encoding)


def resolve_table(data_root: Path, cache_root: Path, configured: Path | None = None) -> Path | None:
    """The surrogate folder: `configured`, else the first of `DIR_NAMES` under the data root holding the model."""
    if configured is not None:
        return Path(configured)
    for name in DIR_NAMES:
        if (Path(data_root) / name / MODEL_FILE).is_file():
            return Path(data_root) / name
    return None


def convert(source: Path, out_dir: Path) -> Path:
    """Nothing to convert (a surrogate is queried, not tabulated): validates `source` and returns it."""
    open_table(Path(source))
    return Path(source)
