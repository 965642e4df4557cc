"""Reading NAS-Bench-201 / NATS-Bench raw sources: what each kind holds and how it is read.

`detect_source_kind` names a source's kind (`KIND_*`); `READERS[kind](path)` returns its rows
(arch strings and the 200-epoch metrics of `METRICS`) for `benchmarks.nasbench201.convert`,
which validates them and writes the table. The official APIs (`nas_201_api`, `nats_bench`) are
imported only here and only when such a source is converted; pickles go through `_safe_pickle`.
"""

import bz2
import contextlib
import importlib
import io
import logging
import math
import pickle
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv

from benchmarks import _safe_pickle
from benchmarks.errors import ConversionError

log = logging.getLogger(__name__)

CONVERT_COMMAND = "python -m benchmarks convert nasbench201 <file>"
OBTAIN_HINT = (
    "get NAS-Bench-201-v1_1-096897.pth or NATS-tss-v1_0-3ffb9-simple (links in the NAS-Bench-201 / NATS-Bench "
    f"GitHub READMEs), then run `{CONVERT_COMMAND}` or place it in $HARNESS_DATA"
)
HP = "200"  # the 200-epoch training schedule; '12' (the 'less' results) is a different benchmark

KIND_NB201_PTH = "nb201_pth"
KIND_NATS_FILE = "nats_tss_pbz2"
KIND_NATS_DIR = "nats_tss_fast_dir"
KIND_CSV = "nats_bench_csv"
NATS_META = "meta.pickle.pbz2"
_NATS_ARCH_FILE = re.compile(r"^(\d+)\.pickle\.pbz2$")

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


READERS = {
    KIND_NB201_PTH: _read_nb201_pth,
    KIND_NATS_FILE: lambda p: _read_nats(p, fast=False),
    KIND_NATS_DIR: lambda p: _read_nats(p, fast=True),
    KIND_CSV: _read_csv,
}

