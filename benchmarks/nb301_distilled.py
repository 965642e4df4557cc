"""NAS-Bench-301 distilled: a LightGBM model of 10,000 official NB301 surrogate predictions.

Why: the official NB301 surrogates (`benchmarks.nasbench301`) cannot be downloaded everywhere, and
the YAHPO-Gym surrogate (`benchmarks.yahpo_nb301`) agrees with them only at Spearman ~0.59. What
is staged is 10,000 DARTS genotypes with the official NB301 v0.9 XGB surrogate's predictions
(`with_noise=True`): `maestro_model_genotype.pickle` (Ren-Research/maestro, MIT) and
`ren_sample_accuracy.pickle` (Ren-Research/nasbench301, Apache-2.0), same order (see
shared/data/README.md). This module distils them, once, into a gradient-boosted regressor:

    python -m benchmarks convert nb301_distilled $HARNESS_DATA/nasbench301   # -> $HARNESS_CACHE/nb301_distilled

Conversion (deterministic; seed `SEED`): read both pickles with a restricted unpickler (the
genotype file names the class `nasbench.sample_model.Genotype`, mapped to a local namedtuple; only
numpy int64/float64 scalars, lists, tuples and strings are admitted), check every genotype against
the DARTS space, split 80/20 (`_predictor.holdout_split`), pick the feature encoding
(`_darts_features.ENCODINGS`) by 5-fold Spearman on the 80 % only, fit LightGBM on the 80 %, and
validate on the 20 % hold-out and on NASLib's 725 NB301 values (`zc_nasbench301.json`, never used
for fitting or choosing) with Spearman, Kendall tau and MAE, and the same for YAHPO
(`_nb301_validation`). The table folder then holds

    model.txt        the LightGBM model (its own text format, not pickle)
    features.json    the encoding: name, definition, feature names
    table.parquet    the 10,000 rows: arch, nb301_v09_val_acc (the official value), split, nb301d_val_acc
    metadata.json    sha256 of the two source pickles and of every file above, params, validation

Lookup: a `spaces.darts` arch key (`Genotype(normal=[...], normal_concat=[2, 3, 4, 5], ...)`) ->
`nb301d_val_acc` (predicted CIFAR-10 validation accuracy, percent, of NB301's training pipeline)
and `nb301d_val_err` = 100 - it (Table 5's "test error", spec §5.3). Any genotype of the space is
answered (it is a model); a key outside the space (`none`, a wrong input, a wrong pair count)
raises `ArchNotInBenchmarkError` naming the defect.

    >>> table = open_table(resolve_table(data_root(), cache_root()))
    >>> table.lookup("Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], ...)")
"""

from __future__ import annotations

import collections
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from archcodec import darts as darts_key
from benchmarks import _darts_features, _nb301_validation, _predictor, _safe_pickle, yahpo_nb301
from benchmarks._columns import MetricColumn
from benchmarks._surrogate import CachedSurrogate
from benchmarks._table_dir import resolve_cached, sha256_file, write_table
from benchmarks.errors import ArchNotInBenchmarkError, ConversionError
from benchmarks.paths import data_root as default_data_root

log = logging.getLogger(__name__)

NAME = "nb301_distilled"
FORMAT_VERSION = 1
VERSION = "NB301 v0.9 XGB predictions (with_noise) of 10,000 genotypes, distilled into LightGBM"
GENOTYPE_FILE = "maestro_model_genotype.pickle"
ACCURACY_FILE = "ren_sample_accuracy.pickle"
SEED = 0
HOLDOUT_FRACTION = 0.2
CV_FOLDS = 5
ROUNDS = 1000
PARAMS: dict[str, Any] = {"num_leaves": 31, "learning_rate": 0.05, "min_data_in_leaf": 20, "feature_fraction": 0.5,
                          "bagging_fraction": 0.8, "bagging_freq": 1, "seed": SEED}
CONVERT_COMMAND = f"python -m benchmarks convert {NAME} $HARNESS_DATA/nasbench301"
OBTAIN_HINT = (f"put {GENOTYPE_FILE} (Ren-Research/maestro tools/frontend/model_genotype.pickle) and {ACCURACY_FILE} "
               f"(Ren-Research/nasbench301 sample_accuracy.pickle) in $HARNESS_DATA/nasbench301/ and run `{CONVERT_COMMAND}`")
CITATION = ("J. Siems, L. Zimmer, A. Zela, J. Lukasik, M. Keuper and F. Hutter, NAS-Bench-301 and the Case for "
            "Surrogate Benchmarks for Neural Architecture Search, 2020 (the surrogate whose predictions are distilled)")
METRIC_COLUMNS: tuple[MetricColumn, ...] = (
    MetricColumn("nb301d_val_acc", "float64",
                 "nb301_distilled: LightGBM distillation of the official NB301 v0.9 surrogate, predicted CIFAR-10 "
                 "validation accuracy (percent) of NB301's 100-epoch DARTS pipeline; validation in metadata.json",
                 predicted=True, headline=("*",)),
    MetricColumn("nb301d_val_err", "float64", "100 - nb301d_val_acc (the paper's Table 5 'test error', spec §5.3)",
                 predicted=True),
)

# The genotype pickle's class: `nasbench.sample_model.Genotype` (a module that exists nowhere here).
PickledGenotype = collections.namedtuple("PickledGenotype", "normal normal_concat reduce reduce_concat")
_GENOTYPE_GLOBALS = {("nasbench.sample_model", "Genotype"): PickledGenotype,
                     **_safe_pickle.numpy_globals(scalar_dtypes=("<i8",))}
_ACCURACY_GLOBALS = _safe_pickle.numpy_globals(scalar_dtypes=("<f8",))


def _plain_int(value: object) -> object:
    """numpy int64 inputs as Python ints (what `archcodec.darts` checks); anything else unchanged, to be refused."""
    return int(value) if isinstance(value, np.integer) else value


def _check_genotypes(obj: object) -> None:
    if not isinstance(obj, list) or not all(isinstance(g, PickledGenotype) for g in obj):
        raise ValueError(f"a {type(obj).__name__}, not a list of Genotype namedtuples")


def read_genotypes(path: Path) -> list[dict[str, list]]:
    """The genotypes of the maestro pickle, parsed and checked against the DARTS space."""
    fix = f"download it again; {OBTAIN_HINT}"
    raw = _safe_pickle.load_file(path, _GENOTYPE_GLOBALS, expected="a list of nasbench.sample_model.Genotype",
                            fix=fix, check=_check_genotypes)
    out = []
    for i, g in enumerate(raw):
        try:
            if list(g.normal_concat) != darts_key.CONCAT or list(g.reduce_concat) != darts_key.CONCAT:
                raise ValueError(f"concat {g.normal_concat}/{g.reduce_concat}, the DARTS space concatenates "
                                 f"{darts_key.CONCAT}")
            out.append(darts_key.from_cells(*([[p[0], _plain_int(p[1])] if isinstance(p, tuple | list) else p
                                                 for p in cell] for cell in (g.normal, g.reduce))))
        except (TypeError, ValueError, IndexError) as exc:
            raise ConversionError(f"{path}: genotype {i} is outside the DARTS space ({exc}); fix: {fix}") from None
    return out


def read_accuracies(path: Path, n: int) -> np.ndarray:
    """The n official predictions (percent) of the Ren-Research pickle, checked to be finite percentages."""
    def check(obj: object) -> None:
        if not isinstance(obj, list) or len(obj) != n:
            raise ValueError(f"{len(obj) if isinstance(obj, list) else type(obj).__name__} values, expected a list "
                             f"of {n} (one per genotype, same order)")
        bad = [i for i, v in enumerate(obj) if not isinstance(v, float) or not 0.0 < v <= 100.0]
        if bad:
            raise ValueError(f"value {bad[0]} is {obj[bad[0]]!r}, not an accuracy in (0, 100]")

    values = _safe_pickle.load_file(path, _ACCURACY_GLOBALS, expected=f"a list of {n} accuracies (percent)",
                               fix=f"download it again; {OBTAIN_HINT}", check=check)
    return np.asarray(values, dtype=np.float64)


def _yahpo_dir(source: Path) -> Path | None:
    for base in (source, default_data_root()):
        found = yahpo_nb301.resolve_table(base, base)
        if found is not None:
            return found
    return None


def convert(source: Path, out_dir: Path, *, encoding: str | None = None, yahpo_dir: Path | None = None) -> Path:
    """Fit, validate and write the distilled benchmark from the folder `source` holding the two pickles.

    Args:
        encoding: a key of `_darts_features.ENCODINGS`; None (default) picks by k-fold CV on the training split.
        yahpo_dir: the YAHPO surrogate to compare with; None looks beside the source, then in the data root.
    Raises:
        ConversionError: a missing, corrupt or out-of-space source file (one line naming it and the fix).
    """
    source, out_dir = Path(source).expanduser().resolve(), Path(out_dir).expanduser()
    if not source.is_dir():
        raise ConversionError(f"cannot convert {source} as {NAME}: expected a folder holding {GENOTYPE_FILE} and "
                              f"{ACCURACY_FILE}; {OBTAIN_HINT}")
    genotypes = read_genotypes(source / GENOTYPE_FILE)
    values = read_accuracies(source / ACCURACY_FILE, len(genotypes))
    keys = [darts_key.format_key(g) for g in genotypes]
    train, holdout = _predictor.holdout_split(len(keys), SEED, HOLDOUT_FRACTION)
    y_train = values[train]
    if encoding is None:
        encoding, cv = _predictor.select_encoding(
            {name: (lambda name=name: _darts_features.encode(name, [genotypes[i] for i in train]))
             for name in _darts_features.ENCODINGS}, y_train, PARAMS, ROUNDS, folds=CV_FOLDS, seed=SEED)
    else:
        _darts_features.feature_names(encoding)  # unknown names fail here, listing the valid ones
        cv = {}
    x_all = _darts_features.encode(encoding, genotypes)
    booster = _predictor.fit(x_all[train], y_train, PARAMS, ROUNDS)
    predicted = booster.predict(x_all)

    def predict(arch_keys):
        return booster.predict(_darts_features.encode(encoding, [darts_key.parse(k) for k in arch_keys]))

    yahpo = yahpo_dir if yahpo_dir is not None else _yahpo_dir(source)
    validation = _nb301_validation.validate(
        predict, holdout_keys=[keys[i] for i in holdout], holdout_values=values[holdout],
        train_keys=[keys[i] for i in train], naslib_path=source / _nb301_validation.NASLIB_FILE, yahpo_dir=yahpo)
    for line in _nb301_validation.summary_lines(validation):
        log.info("%s validation: %s", NAME, line)

    out_dir.mkdir(parents=True, exist_ok=True)
    model_meta = _predictor.write_model(out_dir, booster, {
        "encoding": encoding, "definition": _darts_features.ENCODINGS[encoding],
        "ops": list(darts_key.OPS), "edge_offset": list(_darts_features.EDGE_OFFSET),
        "feature_names": _darts_features.feature_names(encoding)})
    split = np.full(len(keys), "train", dtype=object)
    split[holdout] = "holdout"
    table = pa.table({"arch": pa.array(keys, pa.string()), "nb301_v09_val_acc": pa.array(values, pa.float64()),
                      "split": pa.array(split.tolist(), pa.string()), "nb301d_val_acc": pa.array(predicted, pa.float64())})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    data = buffer.getvalue()
    meta = {
        "benchmark": NAME, "format_version": FORMAT_VERSION, "version": VERSION,
        "source": f"{VERSION}: {source}",
        "source_files": [{"name": p.name, "sha256": sha256_file(p)} for p in (source / GENOTYPE_FILE, source / ACCURACY_FILE)],
        "n_archs": len(keys), "n_unique_archs": len(set(keys)),
        "split": {"seed": SEED, "holdout_fraction": HOLDOUT_FRACTION, "n_train": len(train), "n_holdout": len(holdout)},
        "model": {**model_meta, "library": f"lightgbm {_predictor.lightgbm_version()}", "params": PARAMS,
                  "rounds": ROUNDS, "fitted_on": "train split only"},
        "encoding": {"chosen": encoding, "cv_folds": CV_FOLDS, "cv_spearman_on_train": cv,
                     "chosen_by": "k-fold Spearman on the training split" if cv else "given"},
        "validation": validation, "metrics": {c.name: c.meaning for c in METRIC_COLUMNS},
        "citation": CITATION, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "table_file": "table.parquet", "table_sha256": _predictor.sha256_bytes(data),
    }
    write_table(out_dir, data, meta)
    log.info("wrote %s (%s, %d genotypes) to %s; please cite %s", NAME, encoding, len(keys), out_dir, CITATION)
    return out_dir


@dataclass(eq=False)
class NB301DistilledTable(CachedSurrogate, _predictor.FittedModelTable):
    """The distilled surrogate: any DARTS-space genotype -> predicted NB301 validation accuracy."""

    _booster: Any = field(repr=False)
    _encoding: str = field(repr=False)

    def __len__(self) -> int:
        return int(self.metadata["n_archs"])

    def __contains__(self, arch_key: object) -> bool:
        try:
            darts_key.parse(arch_key)  # type: ignore[arg-type]
        except ValueError:
            return False
        return True

    def predict(self, arch_keys: list[str]) -> np.ndarray:
        """Predicted validation accuracies (percent) of many keys at once."""
        genotypes = []
        for key in arch_keys:
            try:
                genotypes.append(darts_key.parse(key))
            except ValueError as exc:
                raise ArchNotInBenchmarkError(key, str(self.path), hint=str(exc)) from None
        with self._lock:
            return np.asarray(self._booster.predict(_darts_features.encode(self._encoding, genotypes)), dtype=np.float64)

    def _predict_one(self, arch_key: str) -> dict[str, float]:
        acc = float(self.predict([arch_key])[0])
        return {"nb301d_val_acc": acc, "nb301d_val_err": 100.0 - acc}


def _fix(table_dir: Path) -> str:
    return _predictor.rebuild_hint(CONVERT_COMMAND, table_dir)


def open_table(table_dir: Path) -> NB301DistilledTable:
    """Load a converted table; every file is checked against its sha256 in metadata.json."""
    table_dir = Path(table_dir).expanduser()
    meta, _, booster, features = _predictor.open_verified(NAME, table_dir, FORMAT_VERSION, CONVERT_COMMAND)
    encoding = features.get("encoding") if isinstance(features, dict) else None
    if encoding not in _darts_features.ENCODINGS or features.get("feature_names") != _darts_features.feature_names(encoding):
        raise ConversionError(f"{table_dir}: features.json ({encoding!r}) does not match this code's encoding of that "
                              f"name; fix: {_fix(table_dir)}")
    if booster.num_feature() != len(features["feature_names"]):
        raise ConversionError(f"{table_dir}: model.txt expects {booster.num_feature()} features, features.json "
                              f"lists {len(features['feature_names'])}; fix: {_fix(table_dir)}")
    return NB301DistilledTable(path=table_dir, metadata=meta, _booster=booster, _encoding=encoding)


def find_source(data_root: Path) -> Path | None:
    """The folder holding both pickles: <data root>/nasbench301, else the data root itself."""
    for base in (Path(data_root) / "nasbench301", Path(data_root)):
        if (base / GENOTYPE_FILE).is_file() and (base / ACCURACY_FILE).is_file():
            return base
    return None


def resolve_table(data_root: Path, cache_root: Path, configured: Path | None = None) -> Path | None:
    """`configured`, else the cached table, else one converted now from the data root; None without data."""
    fix = _fix(Path(configured)) if configured is not None else ""
    return resolve_cached(NAME, data_root, cache_root, configured, fix=fix, find_source=find_source, convert=convert)
