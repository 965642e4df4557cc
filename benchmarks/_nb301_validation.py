"""Reference sets `nb301_distilled` is validated against (never trained or tuned on), and the YAHPO comparison.

* The hold-out: 20 % of the 10,000 official NB301 v0.9 predictions, split off before any fitting.
* NASLib's 725 NB301 values (`zc_nasbench301.json`, automl/NASLib, Apache-2.0): JSON
  `{"cifar10": {key: {"val_accuracy": percent, ...}}}` with key = NASLib's compact genotype
  `[[(input, op_index) x8 normal], [(input, op_index) x8 reduce]]`, op_index into
  `archcodec.darts.OPS` (the same order as NASLib's NB301 op list).
* The YAHPO-Gym ONNX surrogate (`benchmarks.yahpo_nb301`, the other DARTS benchmark) scored on
  the same two sets, so the README can say how far each is from the official surrogate.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archcodec import darts as darts_key
from benchmarks import yahpo_nb301
from benchmarks._predictor import agreement
from benchmarks.errors import BenchmarkError, ConversionError

log = logging.getLogger(__name__)

NASLIB_FILE = "zc_nasbench301.json"
NASLIB_FORMAT = ('NASLib zc_nasbench301.json: {"cifar10": {"[[(input, op_index) x8], [(input, op_index) x8]]": '
                 '{"val_accuracy": percent, ...}}}')


def naslib_genotype(compact: str) -> dict[str, list]:
    """A parsed genotype from NASLib's compact key; ValueError names the defect."""
    try:
        cells = ast.literal_eval(compact)
    except (ValueError, SyntaxError):
        raise ValueError(f"key {compact[:60]!r} is not a literal") from None
    if not (isinstance(cells, list | tuple) and len(cells) == 2):
        raise ValueError(f"key {compact[:60]!r} is not [normal, reduce]")
    pairs = []
    for cell in cells:
        if not isinstance(cell, list | tuple):
            raise ValueError(f"key {compact[:60]!r}: a cell is not a list of (input, op_index)")
        pairs.append([[darts_key.OPS[op], src] if isinstance(op, int) and 0 <= op < len(darts_key.OPS)
                      else (op, src) for src, op in cell])
    return darts_key.from_cells(*pairs)


def read_naslib(path: Path) -> tuple[list[str], np.ndarray]:
    """(arch keys, val_accuracy percent) of NASLib's 725 NB301 architectures."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))["cifar10"]
        keys = [darts_key.format_key(naslib_genotype(k)) for k in data]
        values = np.array([float(rec["val_accuracy"]) for rec in data.values()], dtype=np.float64)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConversionError(f"{path}: not {NASLIB_FORMAT} ({type(exc).__name__}: {exc}); fix: copy "
                              "naslib/data/zc_nasbench301.json of github.com/automl/NASLib there, or remove it "
                              "to skip this check") from None
    return keys, values


def _yahpo_acc(yahpo_dir: Path, keys: Sequence[str]) -> np.ndarray:
    table = yahpo_nb301.open_table(yahpo_dir)
    return 100.0 * np.concatenate([table.predict(list(keys[i:i + 512]))[:, 0] for i in range(0, len(keys), 512)])


def validate(predict: Callable[[Sequence[str]], np.ndarray], *, holdout_keys: Sequence[str],
             holdout_values: np.ndarray, train_keys: Sequence[str], naslib_path: Path | None,
             yahpo_dir: Path | None) -> dict[str, Any]:
    """Agreement of `predict` (and of YAHPO, where found) with the hold-out and with NASLib's values.

    Returns a JSON-able dict: {"holdout": {"nb301_distilled": {...}, "yahpo_nb301": {...}},
    "naslib": {...} | {"skipped": reason}, "yahpo_dir": str | None}.
    """
    out: dict[str, Any] = {"holdout": {"nb301_distilled": agreement(predict(holdout_keys), holdout_values)}}
    naslib = None
    if naslib_path is not None and Path(naslib_path).is_file():
        keys, values = read_naslib(Path(naslib_path))
        train = set(train_keys)
        naslib = (keys, values)
        out["naslib"] = {"file": str(naslib_path), "n_in_training_split": sum(k in train for k in keys),
                         "nb301_distilled": agreement(predict(keys), values)}
    else:
        out["naslib"] = {"skipped": f"no {NASLIB_FILE} beside the source files"}
        log.warning("no %s found: the NASLib agreement check is skipped", NASLIB_FILE)
    out["yahpo_dir"] = str(yahpo_dir) if yahpo_dir is not None else None
    if yahpo_dir is None:
        log.warning("no YAHPO NB301 surrogate found: the comparison with it is skipped")
        return out
    try:
        out["holdout"]["yahpo_nb301"] = agreement(_yahpo_acc(yahpo_dir, holdout_keys), holdout_values)
        if naslib is not None:
            out["naslib"]["yahpo_nb301"] = agreement(_yahpo_acc(yahpo_dir, naslib[0]), naslib[1])
    except (BenchmarkError, ImportError) as exc:  # the comparison is informative; the benchmark stands without it
        out["yahpo_error"] = str(exc)
        log.warning("YAHPO comparison skipped: %s", exc)
    return out


def summary_lines(validation: dict[str, Any]) -> list[str]:
    """The validation table as printed at conversion (and pasted into the README)."""
    lines = [f"{'set':<22}{'benchmark':<18}{'n':>6}{'Spearman':>10}{'Kendall':>9}{'MAE (pp)':>10}"]
    for set_name, label in (("holdout", "20% hold-out"), ("naslib", "NASLib 725")):
        for bench in ("nb301_distilled", "yahpo_nb301"):
            m = validation.get(set_name, {}).get(bench)
            if m:
                lines.append(f"{label:<22}{bench:<18}{m['n']:>6}{m['spearman']:>10.4f}{m['kendall']:>9.4f}"
                             f"{m['mae']:>10.4f}")
    return lines
