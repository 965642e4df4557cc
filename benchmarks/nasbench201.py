"""NAS-Bench-201 (= NATS-Bench topology space) as a local lookup table: convert once, look up in O(1).

Why a converted table: the official files are 2 GB torch pickles (NB201) or bz2 pickle archives
(NATS-Bench) whose APIs take seconds to minutes to load and print as they go. The harness needs
only six numbers per architecture, so each source is read ONCE through its real API and written
to `<out>/table.parquet` + `<out>/metadata.json`; every later run reads the ~1 MB table.

Accepted sources (`convert` detects the kind):

* an official NB201 file, `NAS-Bench-201-v1_1-096897.pth` (or v1_0-e61699), read by `nas_201_api`;
* NATS-Bench tss, `NATS-tss-v1_0-3ffb9-simple.pickle.pbz2` or a fast-mode directory such as
  `NATS-tss-v1_0-3ffb9-simple/` (holds `meta.pickle.pbz2`), read by `nats_bench.create(.., 'tss')`;
* `nats_bench.csv` (the 200-epoch test accuracies of all 15,625 cells; no validation columns).

Metric columns (percent, 200-epoch training, mean over seeds; see `METRICS` for the exact split):
`cifar10_test_acc`, `cifar100_test_acc`, `imagenet16_test_acc`, and, when the source has them,
`cifar10_valid_acc`, `cifar100_valid_acc`, `imagenet16_valid_acc`. Architectures are keyed by the
official string `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`.

Example:

    >>> from pathlib import Path
    >>> from benchmarks import nasbench201 as nb201
    >>> out = nb201.convert(Path("data/nasbench201/nats_bench.csv"), Path("/tmp/nb201"))
    >>> table = nb201.open_table(out)
    >>> table.lookup("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    {'cifar10_test_acc': 94.373..., 'cifar100_test_acc': 73.22..., 'imagenet16_test_acc': 46.71...}

`resolve_table(data_root(), cache_root())` does the same lazily: it reuses a converted table in the
cache or converts the first raw source (`RAW_SOURCES`) it finds under the data root.
Please cite NAS-Bench-201 (Dong & Yang, ICLR 2020) and NATS-Bench (Dong et al., TPAMI 2021).
"""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import importlib
import io
import logging
import math
import pickle
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from benchmarks import _safe_pickle
from benchmarks._columns import MetricColumn
from benchmarks._table_dir import (  # noqa: F401  (has_table: public API)
    METADATA_FILE, TABLE_FILE, has_table, read_verified, require_table, sha256_file, write_table,
)
from benchmarks.errors import ArchNotInBenchmarkError, ConversionError

log = logging.getLogger(__name__)

NAME = "nasbench201"
FORMAT_VERSION = 1
HP = "200"  # the 200-epoch training schedule; '12' (the 'less' results) is a different benchmark

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
ARCH_FORMAT = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
_OP = "(?:" + "|".join(OPS) + ")"
_ARCH_RE = re.compile(rf"^\|{_OP}~0\|\+\|{_OP}~0\|{_OP}~1\|\+\|{_OP}~0\|{_OP}~1\|{_OP}~2\|$")

KIND_NB201_PTH = "nb201_pth"
KIND_NATS_FILE = "nats_tss_pbz2"
KIND_NATS_DIR = "nats_tss_fast_dir"
KIND_CSV = "nats_bench_csv"
NATS_META = "meta.pickle.pbz2"
_NATS_ARCH_FILE = re.compile(r"^(\d+)\.pickle\.pbz2$")

RAW_SOURCES: tuple[str, ...] = (
    "NAS-Bench-201-v1_1-096897.pth",
    "NAS-Bench-201-v1_0-e61699.pth",
    "NATS-tss-v1_0-3ffb9-simple",
    "NATS-tss-v1_0-3ffb9-full",
    "NATS-tss-v1_0-3ffb9-simple.pickle.pbz2",
    "nasbench201/nats_bench.csv",
)

CONVERT_COMMAND = "python -m benchmarks convert nasbench201 <file>"
OBTAIN_HINT = (
    "get NAS-Bench-201-v1_1-096897.pth or NATS-tss-v1_0-3ffb9-simple (links in the NAS-Bench-201 / NATS-Bench "
    f"GitHub READMEs), then run `{CONVERT_COMMAND}` or place it in $HARNESS_DATA"
)
CITATION = (
    "X. Dong and Y. Yang, NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search, "
    "ICLR 2020; X. Dong, L. Liu, K. Musial and B. Gabrys, NATS-Bench: Benchmarking NAS Algorithms for "
    "Architecture Topology and Size, IEEE TPAMI 2021"
)
_ACCEPTED = (
    "an official NB201 .pth (NAS-Bench-201-v1_1-096897.pth), a NATS-Bench tss .pickle.pbz2 file, "
    f"a NATS-Bench fast-mode directory (holding {NATS_META}), or nats_bench.csv"
)
_OFFICIAL_FIX = "pip install 'freedarts-harness[official]'"


@dataclass(frozen=True)
class Metric:
    """One metric column: which NB201 dataset/`get_more_info` key it is read from, and what it means."""

    column: str
    dataset: str  # NB201 dataset name passed to get_more_info
    key: str  # key of get_more_info's dict
    required: bool  # every source kind has it (the CSV only has test accuracies)
    semantics: str
    headline: tuple[str, ...] = ()  # harness search datasets whose Table 3 accuracy this is


_SCHEDULE = "200-epoch training (hp='200'), mean over seeds, percent"
METRICS: tuple[Metric, ...] = (
    Metric("cifar10_test_acc", "cifar10", "test-accuracy", True,
           f"CIFAR-10 test accuracy on ori-test of the model trained on train+valid (NB201 'cifar10'); {_SCHEDULE}",
           ("cifar10",)),
    Metric("cifar100_test_acc", "cifar100", "test-accuracy", True,
           f"CIFAR-100 test accuracy on x-test (NB201 'cifar100', trained on train); {_SCHEDULE}", ("cifar100",)),
    Metric("imagenet16_test_acc", "ImageNet16-120", "test-accuracy", True,
           f"ImageNet16-120 test accuracy on x-test (NB201 'ImageNet16-120', trained on train); {_SCHEDULE}",
           ("imagenet16-120",)),
    Metric("cifar10_valid_acc", "cifar10-valid", "valid-accuracy", False,
           f"CIFAR-10 validation accuracy on x-valid of the model trained on train (NB201 'cifar10-valid'); {_SCHEDULE}"),
    Metric("cifar100_valid_acc", "cifar100", "valid-accuracy", False,
           f"CIFAR-100 validation accuracy on x-valid (NB201 'cifar100'); {_SCHEDULE}"),
    Metric("imagenet16_valid_acc", "ImageNet16-120", "valid-accuracy", False,
           f"ImageNet16-120 validation accuracy on x-valid (NB201 'ImageNet16-120'); {_SCHEDULE}"),
)
METRIC_NAMES: tuple[str, ...] = tuple(m.column for m in METRICS)
# Test accuracies are also looked up for every pruning step (the trajectory of paper Fig. 2).
METRIC_COLUMNS: tuple[MetricColumn, ...] = tuple(
    MetricColumn(m.column, "float64", m.semantics, per_step=m.required, headline=m.headline) for m in METRICS)
_CSV_COLUMNS: dict[str, str] = {  # nats_bench.csv header -> table column, in the file's order
    "CIFAR10TestAccuracy200Epochs": "cifar10_test_acc",
    "CIFAR100TestAccuracy200Epochs": "cifar100_test_acc",
    "ImageNetTestAccuracy200Epochs": "imagenet16_test_acc",
    "ArchitectureString": "arch",
    "UniqueString": "unique_str",
}


class OfficialApiMissingError(ConversionError, ImportError):
    """The official NB201 / NATS-Bench package needed to read a source is not installed."""


@dataclass(frozen=True)
class _Rows:
    """Column-wise conversion result; rows are in arch-index order."""

    arch_index: list[int]
    arch: list[str]
    metrics: dict[str, list[float]]  # NaN where the source lacks a value
    unique_str: list[str] | None
    api_package: str
    api_version: str


# -- source detection and reading ---------------------------------------------------------------------


def detect_source_kind(source: Path) -> str:
    """Return the kind of a raw source (`KIND_*`) from its name/layout, or raise ConversionError."""
    source = Path(source)
    if source.is_dir() and (source / NATS_META).is_file():
        return KIND_NATS_DIR
    if source.is_file():
        name = source.name.lower()
        if name.endswith(".pth"):
            return KIND_NB201_PTH
        if name.endswith(".pbz2"):
            return KIND_NATS_FILE
        if name.endswith(".csv"):
            return KIND_CSV
    what = "does not exist" if not source.exists() else "is not a recognised NAS-Bench-201 source"
    raise ConversionError(f"{source} {what}; accepted: {_ACCEPTED}; fix: {OBTAIN_HINT}")


def _import_official(module: str, package: str, source: Path) -> Any:
    """Import an official API lazily: the harness itself runs without it, only conversion needs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise OfficialApiMissingError(
            f"reading {source} needs the official {package} package ({module}), which is not installed; "
            f"fix: {_OFFICIAL_FIX}"
        ) from err


def _package_version(package: str) -> str:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _quiet_and_wrapped(source: Path, kind: str) -> Iterator[None]:
    """Route the official APIs' prints to the log and turn their assert/KeyError failures into one line."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    except ConversionError:
        raise
    except Exception as err:  # the official loaders signal bad input with assert, KeyError, pickle errors...
        first = (str(err).splitlines() or [""])[0][:200]
        raise ConversionError(
            f"cannot read {source} as {kind}: {type(err).__name__}: {first}; accepted: {_ACCEPTED}; "
            f"fix: use an unmodified official file ({OBTAIN_HINT})"
        ) from err
    finally:
        if buffer.getvalue().strip():
            log.debug("official API output while reading %s:\n%s", source, buffer.getvalue().rstrip())


# Globals an NB201 .pth may name beyond what torch's weights-only loader admits by default (tensors,
# dicts, lists, tuples, OrderedDict, numbers, strings): numpy scalars and arrays, which the official
# files use for some statistics. Nothing else: a file naming any other callable is refused unread.
def _torch_allowed_globals() -> list:
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    return [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype,
            *{type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDGSUV"}]


def _load_nb201_api(path: Path) -> Any:
    """Build the real NASBench201API from a .pth loaded with `torch.load(weights_only=True)` and an
    explicit allow-list, so a crafted file named like the official one cannot run code."""
    api_mod = _import_official("nas_201_api", "nas-bench-201", path)
    with path.open("rb") as fh:
        head = fh.read(4)
    # torch.save writes a zip archive (or, before torch 1.6, a pickle starting with 0x80)
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):
        raise ConversionError(f"{path} is not a torch-saved file, so not an official NB201 .pth; "
                              f"accepted: {_ACCEPTED}; fix: {OBTAIN_HINT}")
    import torch  # nas_201_api itself imports torch, so it is present here

    try:
        with torch.serialization.safe_globals(_torch_allowed_globals()):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # weights-only refusal: names the global the file asked for
        refused = next((ln.strip() for ln in str(err).splitlines() if "GLOBAL" in ln or "Unsupported" in ln), "")
        raise ConversionError(f"refusing to load {path}: it pickles objects outside the NB201 allow-list "
                              f"({refused[:160] or type(err).__name__}); an official NB201 .pth holds only dicts, "
                              f"lists, numbers, strings and tensors; fix: use an unmodified official file "
                              f"({OBTAIN_HINT})") from None
    if not isinstance(state, dict):
        raise ConversionError(f"{path} holds a {type(state).__name__}, not the NB201 dict; fix: {OBTAIN_HINT}")
    return api_mod.NASBench201API(state, verbose=False)


def _api_metrics(api: Any, index: int) -> dict[str, float]:
    """All metric values of one arch; NaN where a dataset/split is absent from the source."""
    infos: dict[str, dict[str, Any] | None] = {}
    values: dict[str, float] = {}
    for metric in METRICS:
        if metric.dataset not in infos:
            try:
                infos[metric.dataset] = api.get_more_info(index, metric.dataset, hp=HP, is_random=False)
            except (KeyError, ValueError, AssertionError):  # dataset or hp absent for this arch
                infos[metric.dataset] = None
        info = infos[metric.dataset]
        value = None if info is None else info.get(metric.key)
        values[metric.column] = math.nan if value is None else float(value)
    return values


def _rows_from_api(api: Any, indexes: list[int], package: str, *, unique: bool) -> _Rows:
    """Query every arch through the API (the only place that knows both file layouts)."""
    metrics: dict[str, list[float]] = {m.column: [] for m in METRICS}
    archs, uniques = [], []
    for index in indexes:
        for column, value in _api_metrics(api, index).items():
            metrics[column].append(value)
        archs.append(api.meta_archs[index])
        if unique:
            uniques.append(api.get_unique_str(index))
    return _Rows(list(indexes), archs, metrics, uniques if unique else None, package, _package_version(package))


def _read_nb201_pth(path: Path) -> _Rows:
    with _quiet_and_wrapped(path, "an official NB201 .pth"):
        api = _load_nb201_api(path)
        indexes = sorted(set(api.evaluated_indexes) & set(api.arch2infos_dict))
        return _rows_from_api(api, indexes, "nas-bench-201", unique=False)


def _nats_dir_indexes(directory: Path) -> list[int]:
    """Arch indexes of a fast-mode dir: the API has no listing, and querying a missing file asserts."""
    return sorted(int(m.group(1)) for p in directory.iterdir() if (m := _NATS_ARCH_FILE.match(p.name)))


def _load_pbz2(path: Path) -> Any:
    """A NATS-Bench `.pickle.pbz2` through the restricted unpickler (nats_bench would `pickle.load` it)."""
    try:
        with bz2.open(path, "rb") as fh:
            return _safe_pickle.load(fh)
    except _safe_pickle.UnsafePickleError as err:
        raise ConversionError(f"{err.args[0].split(':')[0]} in {path}: a NATS-Bench archive holds only dicts, lists, "
                              f"numbers and strings; fix: use an unmodified official file ({OBTAIN_HINT})") from None
    except (OSError, EOFError, ValueError, pickle.UnpicklingError) as err:
        raise ConversionError(f"cannot read {path} as a NATS-Bench .pickle.pbz2 ({type(err).__name__}: "
                              f"{' '.join(str(err).split())[:160]}); fix: use an unmodified official file "
                              f"({OBTAIN_HINT})") from None


_NATS_CHUNK = 512  # archs per in-memory API when reading a fast-mode directory


def _read_nats(path: Path, fast: bool) -> _Rows:
    """Every arch of a NATS tss source. The archives are unpickled here, restricted, and handed to
    `nats_bench.create` as dicts: the package's own loader would run any code a file names."""
    nats_bench = _import_official("nats_bench", "nats-bench", path)
    kind = "a NATS-Bench tss fast-mode directory" if fast else "a NATS-Bench tss .pickle.pbz2"
    if not fast:
        data = _load_pbz2(path)
        with _quiet_and_wrapped(path, kind):
            api = nats_bench.create(data, "tss", fast_mode=False, verbose=False)
            indexes = sorted(set(api.evaluated_indexes) & set(api.arch2infos_dict))
            return _rows_from_api(api, indexes, "nats-bench", unique=True)
    meta = _load_pbz2(path / NATS_META)
    if not isinstance(meta, dict) or not isinstance(meta.get("meta_archs"), list):
        raise ConversionError(f"{path / NATS_META} has no meta_archs list; fix: use an unmodified official directory")
    indexes = [i for i in _nats_dir_indexes(path) if i < len(meta["meta_archs"])]
    parts: list[_Rows] = []
    for start in range(0, len(indexes), _NATS_CHUNK):  # bounded memory: one chunk of archs at a time
        chunk = indexes[start:start + _NATS_CHUNK]
        infos = {i: _load_pbz2(path / f"{i:06d}.pickle.pbz2") for i in chunk}
        with _quiet_and_wrapped(path, kind):
            api = nats_bench.create({"meta_archs": meta["meta_archs"], "arch2infos": infos,
                                     "evaluated_indexes": chunk}, "tss", fast_mode=False, verbose=False)
            parts.append(_rows_from_api(api, chunk, "nats-bench", unique=True))
    if not parts:
        return _Rows([], [], {m.column: [] for m in METRICS}, [], "nats-bench", _package_version("nats-bench"))
    return _Rows([i for p in parts for i in p.arch_index], [a for p in parts for a in p.arch],
                 {m.column: [v for p in parts for v in p.metrics[m.column]] for m in METRICS},
                 [u for p in parts for u in (p.unique_str or [])], parts[0].api_package, parts[0].api_version)


def _read_csv(path: Path) -> _Rows:
    """Read nats_bench.csv; its row i is NB201/NATS index i (verified in shared/data/README.md)."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        header = [h.strip() for h in fh.readline().strip().split(",")]
    if header != list(_CSV_COLUMNS):
        raise ConversionError(f"{path}: CSV header {','.join(header)[:120]!r} is not the nats_bench.csv header "
                              f"{','.join(_CSV_COLUMNS)!r}; accepted: {_ACCEPTED}; fix: use the unmodified file")
    types = {h: (pa.float64() if col.endswith("_acc") else pa.string()) for h, col in _CSV_COLUMNS.items()}
    try:
        data = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=types)).to_pydict()
    except (pa.ArrowInvalid, OSError) as err:
        raise ConversionError(f"{path}: cannot parse as nats_bench.csv ({str(err).splitlines()[0][:160]}); "
                              "fix: use the unmodified file") from err
    cols = {_CSV_COLUMNS[h]: v for h, v in data.items()}
    metrics = {m.column: [math.nan if x is None else x for x in cols[m.column]]
               for m in METRICS if m.column in cols}
    return _Rows(list(range(len(cols["arch"]))), cols["arch"], metrics, cols["unique_str"],
                 "pyarrow", pa.__version__)


_READERS = {
    KIND_NB201_PTH: _read_nb201_pth,
    KIND_NATS_FILE: lambda p: _read_nats(p, fast=False),
    KIND_NATS_DIR: lambda p: _read_nats(p, fast=True),
    KIND_CSV: _read_csv,
}


# -- validation and writing ---------------------------------------------------------------------------


def _validate(rows: _Rows, source: Path) -> dict[str, list[float]]:
    """Check keys and required metrics; return the metric columns worth writing (drop all-NaN optionals)."""
    if not rows.arch:
        raise ConversionError(f"{source} holds no evaluated architectures; fix: {OBTAIN_HINT}")
    for i, arch in enumerate(rows.arch):
        if not isinstance(arch, str) or not _ARCH_RE.match(arch):
            raise ConversionError(f"{source}: row {i} has arch {arch!r}, not the NB201 format {ARCH_FORMAT} "
                                  f"with op in {', '.join(OPS)}; fix: use the unmodified file")
    if len(set(rows.arch)) != len(rows.arch):
        raise ConversionError(f"{source} lists an architecture twice; fix: use the unmodified file")
    kept: dict[str, list[float]] = {}
    absent: list[str] = []
    for metric in METRICS:
        values = rows.metrics.get(metric.column, [])
        missing = sum(math.isnan(v) for v in values) + len(rows.arch) - len(values)
        if missing == len(rows.arch):
            if metric.required:
                raise ConversionError(f"{source} has no 200-epoch {metric.dataset} {metric.key} values "
                                      f"(column {metric.column}); accepted: {_ACCEPTED}")
            absent.append(metric.column)
            continue
        if missing:
            log.warning("%s lacks %s for %d of %d archs; lookups omit it there",
                        source, metric.column, missing, len(rows.arch))
        kept[metric.column] = values
    if absent:
        log.info("%s has no %s values; the table omits those columns", source, ", ".join(absent))
    return kept


def _table_bytes(rows: _Rows, metrics: dict[str, list[float]]) -> bytes:
    columns: dict[str, pa.Array] = {
        "arch_index": pa.array(rows.arch_index, type=pa.int64()),
        "arch": pa.array(rows.arch, type=pa.string()),
    }
    columns.update({col: pa.array(values, type=pa.float64()) for col, values in metrics.items()})
    if rows.unique_str is not None:
        columns["unique_str"] = pa.array(rows.unique_str, type=pa.string())
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def _metadata(source: Path, kind: str, rows: _Rows, metrics: dict[str, list[float]], table_sha: str) -> dict:
    hashed = source / NATS_META if source.is_dir() else source
    return {
        "benchmark": NAME,
        "format_version": FORMAT_VERSION,
        "source": {"path": str(source), "name": source.name, "kind": kind,
                   "sha256": sha256_file(hashed), "sha256_of": hashed.name},
        "api": {"package": rows.api_package, "version": rows.api_version},
        "hp": HP,
        "n_archs": len(rows.arch),
        "arch_format": ARCH_FORMAT,
        "metrics": {m.column: m.semantics for m in METRICS if m.column in metrics},
        "citation": CITATION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "table_file": TABLE_FILE,
        "table_sha256": table_sha,
    }


def convert(source: Path, out_dir: Path) -> Path:
    """Convert a raw NB201/NATS source into `out_dir/table.parquet` + `metadata.json`; return `out_dir`.

    Args:
        source: an official `.pth`, a NATS tss `.pickle.pbz2` or fast-mode dir, or `nats_bench.csv`.
        out_dir: created if needed; an existing table there is replaced.

    Raises:
        ConversionError: the source is missing, of an unknown kind, or malformed (message names it).
        OfficialApiMissingError: the official API for that kind is not installed.
    """
    source, out_dir = Path(source).expanduser().resolve(), Path(out_dir).expanduser()
    kind = detect_source_kind(source)
    log.info("converting %s (%s) into %s", source, kind, out_dir)
    rows = _READERS[kind](source)
    metrics = _validate(rows, source)
    data = _table_bytes(rows, metrics)
    table_sha = hashlib.sha256(data).hexdigest()
    meta = _metadata(source, kind, rows, metrics, table_sha)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(out_dir, data, meta)
    log.info("wrote %d NB201 archs to %s; please cite %s", len(rows.arch), out_dir,
             "NAS-Bench-201 (Dong & Yang, ICLR 2020) and NATS-Bench (Dong et al., TPAMI 2021)")
    return out_dir


# -- lookup -------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NB201Table:
    """A converted NB201 table held in memory as {arch string: {metric: value}} for O(1) lookups."""

    path: Path
    metadata: dict[str, Any]
    metrics: tuple[str, ...]
    _rows: Mapping[str, Mapping[str, float]] = field(repr=False)

    @property
    def sha256(self) -> str:
        """sha256 of `table.parquet`, the provenance value to store with results."""
        return str(self.metadata["table_sha256"])

    def lookup(self, arch_key: str) -> dict[str, float]:
        """Every metric the table has for `arch_key` (values missing in the source are left out)."""
        row = self._rows.get(arch_key)
        if row is None:
            raise ArchNotInBenchmarkError(arch_key, str(self.path), hint=self._miss_hint(arch_key))
        return dict(row)

    def _miss_hint(self, arch_key: object) -> str:
        if isinstance(arch_key, str) and _ARCH_RE.match(arch_key):
            return (f"the key is well-formed but this table holds only {len(self)} archs "
                    f"(source {self.metadata['source']['name']}); convert the full benchmark ({OBTAIN_HINT})")
        return f"keys are official NB201 strings {ARCH_FORMAT} with op in {', '.join(OPS)}"

    def __contains__(self, arch_key: object) -> bool:
        return arch_key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def arch_keys(self) -> tuple[str, ...]:
        """All arch strings, in arch-index order."""
        return tuple(self._rows)


def _missing_fix(table_dir: Path) -> str:
    return f"run `{CONVERT_COMMAND} --out {table_dir}` ({OBTAIN_HINT})"


def open_table(table_dir: Path) -> NB201Table:
    """Load a converted table, checking it against its metadata's sha256.

    Raises:
        BenchmarkTableMissingError: no finished table in `table_dir` (message gives the convert command).
        ConversionError: the files exist but are not an intact NB201 table.
    """
    table_dir = Path(table_dir).expanduser()
    meta, data = read_verified(NAME, table_dir, _missing_fix(table_dir))
    columns = pq.read_table(pa.BufferReader(data)).to_pydict()
    metrics = tuple(c for c in METRIC_NAMES if c in columns)
    rows = {
        arch: {c: v for c in metrics if (v := columns[c][i]) is not None and not math.isnan(v)}
        for i, arch in enumerate(columns["arch"])
    }
    return NB201Table(path=table_dir, metadata=meta, metrics=metrics, _rows=rows)


# -- locating a table ---------------------------------------------------------------------------------


def find_raw_source(data_root: Path) -> Path | None:
    """First `RAW_SOURCES` entry present directly under `data_root` or under `data_root/nasbench201`."""
    data_root = Path(data_root)
    for name in RAW_SOURCES:
        for base in (data_root, data_root / NAME):
            if (base / name).exists():
                return base / name
    return None


def resolve_table(data_root: Path, cache_root: Path, configured: Path | None = None) -> Path | None:
    """Directory of a usable table: `configured`, else the cached one, else one converted now; None if no data.

    Raises:
        BenchmarkTableMissingError: `configured` is given but holds no table.
    """
    if configured is not None:
        return require_table(NAME, configured, _missing_fix(Path(configured)))
    cached = Path(cache_root) / NAME
    if has_table(cached):
        return cached
    source = find_raw_source(Path(data_root))
    if source is None:
        return None
    log.info("no %s table in %s yet; converting %s once (later runs reuse it)", NAME, cached, source)
    return convert(source, cached)
