"""The LightGBM predictor behind the predicted benchmarks (`nb301_distilled`, `nb101_predicted`).

Both fit a gradient-boosted regressor on (features of an architecture -> its accuracy) once, at
conversion, and answer lookups from the fitted model. What they share lives here:

* a fixed, seeded 80/20 split (`holdout_split`) and the agreement metrics (`agreement`: Spearman,
  Kendall tau-b, MAE) reported on it;
* feature-encoding selection by k-fold Spearman on the TRAINING part only (`select_encoding`), so
  the hold-out stays untouched until the final model is scored on it;
* deterministic fitting (`fit`: LightGBM `deterministic`, one thread, fixed seeds; same data and
  version -> the same model text, which a test checks);
* the model files in the table folder: `model.txt` (LightGBM's own text format, never pickle) and
  `features.json` (the encoding's name, definition and feature names), each with its sha256 in
  `metadata.json`; `read_model` refuses a file that does not match it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._table_dir import atomic_write, read_verified
from benchmarks.errors import BenchmarkTableMissingError, ConversionError

log = logging.getLogger(__name__)

MODEL_FILE = "model.txt"
FEATURES_FILE = "features.json"
LIGHTGBM_PIN = "lightgbm==4.7.0"
# Fixed for every fit: determinism over speed (one thread also avoids spinning on shared CPUs).
_FIXED = {"objective": "regression", "deterministic": True, "force_col_wise": True, "num_threads": 1,
          "verbose": -1}


def _lightgbm() -> Any:
    try:
        import lightgbm  # local: importing the registry stays cheap
    except ImportError as exc:
        raise ImportError(f"the predicted benchmarks need LightGBM; fix: pip install '{LIGHTGBM_PIN}' "
                          "(pinned in pyproject.toml)") from exc
    return lightgbm


def lightgbm_version() -> str:
    return str(_lightgbm().__version__)


def holdout_split(n: int, seed: int, holdout_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, hold-out indices), both sorted: a seeded permutation, the last fraction held out."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train = n - int(round(holdout_fraction * n))
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])


def agreement(predicted: Sequence[float], reference: Sequence[float]) -> dict[str, float]:
    """Spearman rho, Kendall tau-b and mean absolute error (same units as the values), and n."""
    from scipy.stats import kendalltau, spearmanr  # local: scipy comes with lightgbm

    p, r = np.asarray(predicted, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return {"n": int(len(p)), "spearman": float(spearmanr(p, r).statistic),
            "kendall": float(kendalltau(p, r).statistic), "mae": float(np.mean(np.abs(p - r)))}


def fit(x: np.ndarray, y: np.ndarray, params: Mapping[str, Any], rounds: int) -> Any:
    """A LightGBM Booster fitted deterministically on (x, y)."""
    lgb = _lightgbm()
    data = lgb.Dataset(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), free_raw_data=True)
    return lgb.train({**params, **_FIXED}, data, num_boost_round=rounds)


def kfold_spearman(x: np.ndarray, y: np.ndarray, params: Mapping[str, Any], rounds: int, *,
                   folds: int, seed: int) -> float:
    """Mean Spearman over `folds` seeded folds of (x, y)."""
    order = np.random.default_rng(seed).permutation(len(y))
    scores = []
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        booster = fit(x[train], y[train], params, rounds)
        scores.append(agreement(booster.predict(x[test]), y[test])["spearman"])
    return float(np.mean(scores))


def select_encoding(encode: Mapping[str, Callable[[], np.ndarray]], y_train: np.ndarray,
                    params: Mapping[str, Any], rounds: int, *, folds: int, seed: int) -> tuple[str, dict[str, float]]:
    """The encoding with the best k-fold Spearman on the training rows (ties: the first listed).

    Args:
        encode: name -> a function returning that encoding's feature matrix of the training rows.
    Returns:
        (chosen name, {name: mean k-fold Spearman}).
    """
    scores = {}
    for name, make in encode.items():
        scores[name] = kfold_spearman(make(), y_train, params, rounds, folds=folds, seed=seed)
        log.info("encoding %s: %d-fold Spearman %.4f on the training split", name, folds, scores[name])
    best = max(scores, key=lambda n: (scores[n], -list(scores).index(n)))
    return best, scores


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_model(out_dir: Path, booster: Any, features: Mapping[str, Any]) -> dict[str, str]:
    """Write model.txt and features.json; returns their sha256s for metadata.json."""
    model = booster.model_to_string().encode()
    feats = (json.dumps(features, indent=1) + "\n").encode()
    atomic_write(Path(out_dir) / MODEL_FILE, model)
    atomic_write(Path(out_dir) / FEATURES_FILE, feats)
    return {"model_file": MODEL_FILE, "model_sha256": sha256_bytes(model),
            "features_file": FEATURES_FILE, "features_sha256": sha256_bytes(feats)}


def read_model(name: str, table_dir: Path, meta: Mapping[str, Any], fix: str) -> tuple[Any, dict[str, Any]]:
    """(Booster, features dict) of a converted table, each file checked against its sha256 in `meta`."""
    table_dir = Path(table_dir)
    blobs = {}
    for file_key, sha_key in (("model_file", "model_sha256"), ("features_file", "features_sha256")):
        path = table_dir / str(meta.get(file_key, ""))
        if not path.is_file():
            raise BenchmarkTableMissingError(name, str(table_dir), f"{path.name or file_key} is missing; fix: {fix}")
        blobs[file_key] = path.read_bytes()
        if sha256_bytes(blobs[file_key]) != meta.get(sha_key):
            raise ConversionError(f"{path} does not match its {sha_key} in metadata.json (changed or truncated "
                                  f"since conversion); fix: {fix}")
    lgb = _lightgbm()
    try:
        features = json.loads(blobs["features_file"])
        booster = lgb.Booster(model_str=blobs["model_file"].decode())
    except (ValueError, UnicodeDecodeError, lgb.basic.LightGBMError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise ConversionError(f"{table_dir}: cannot read the predictor ({type(exc).__name__}: {detail}); "
                              f"fix: {fix}") from None
    return booster, features


def rebuild_hint(convert_command: str, table_dir: Path) -> str:
    """The fix every error about a converted predicted table names: convert it again into that folder."""
    return f"run `{convert_command} --out {table_dir}`"


def open_verified(name: str, table_dir: Path, format_version: int,
                  convert_command: str) -> tuple[dict[str, Any], bytes, Any, dict[str, Any]]:
    """(metadata, table bytes, Booster, features) of a converted predicted table.

    Every file is checked against its sha256 in metadata.json and the format version against
    `format_version`; each failure names the table folder and the conversion that rebuilds it."""
    table_dir = Path(table_dir).expanduser()
    fix = rebuild_hint(convert_command, table_dir)
    meta, data = read_verified(name, table_dir, fix)
    if meta.get("format_version") != format_version:
        raise ConversionError(f"{table_dir} holds {name} format {meta.get('format_version')}, this code reads "
                              f"{format_version}; fix: {fix}")
    booster, features = read_model(name, table_dir, meta.get("model", {}), fix)
    return meta, data, booster, features


class FittedModelTable:
    """What a predicted table says about itself, read from its metadata.json (mixin of the table classes)."""

    metadata: dict[str, Any]

    @property
    def sha256(self) -> str:
        """sha256 of model.txt: what every looked-up value depends on."""
        return str(self.metadata["model"]["model_sha256"])

    @property
    def validation(self) -> dict[str, Any]:
        """The agreement figures measured at conversion (hold-out and external references)."""
        return dict(self.metadata["validation"])
