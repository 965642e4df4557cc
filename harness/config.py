"""Sweep files (YAML) -> frozen, validated dataclasses. The only module that touches raw dicts.

A sweep file names the results directory, the benchmark, fixed settings and a grid; the grid's
product is the list of cells, one FreeDARTS search each:

    name: table3                 # results go to results/table3/
    description: Table 3 of the paper
    benchmark: nasbench201       # or "none": search only, no lookup
    settings:                    # one value for every cell (any cell field)
      alpha_transform: raw
    grid:                        # a list per axis; cells = product of the axes
      dataset: [cifar10, cifar100, imagenet16-120]
      variant: [labels, random_labels, D]
      mode: [oneshot, iterative]
      seed: [0, 1, 2, 3, 4]

`grid` may also be a list of such mappings: the cells are the union of their products (in order,
duplicates once), e.g. iterative and one-shot D over five seeds plus one labelled cell.
A cell field may appear in `settings` or in `grid`, not both. Unknown keys, unknown names and
bad values fail with `file:key`, the valid choices and the fix. Fields left unset (`None`) are
resolved to the documented default of the space / variant in `resolve()`, and `cell_id` hashes
the *resolved* cell, so writing a default explicitly does not create a new cell.

Every ambiguity of FREEDARTS_SPEC.md is a `CellConfig` field (alpha_transform, abs_weights,
abs_alpha, reinit_weights_each_step, tie_break, prune_pool, bn_mode, dtype, batch_size, ...);
the cell, its defaults (`resolve`) and its `cell_id` live in harness/cell.py, re-exported here.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
import math
import operator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from archcodec import registry
from harness.cell import (  # noqa: F401  (re-exported: callers import the cell from the config)
    _ADDED_FIELDS, CELL_FIELDS, CHOICES, MODES, VARIANTS, CellConfig, resolve,
)
from harness.data import DATASETS
from harness.errors import ConfigError, UnknownNameError
from harness.methods import list_methods
from harness.sweep_benchmarks import check_benchmark, check_extra_benchmarks
from spaces import get_space, list_spaces

RESOURCE_MODES = ("timing", "throughput")


@dataclass(frozen=True)
class Resources:
    """What one cell asks of the cluster (sweep key `resources:`).

    Attributes:
        mode: "timing" (default): on a cluster with GPUs every cell holds one whole GPU, so its
            search_s is a clean single-GPU cost; "throughput": cells may share a GPU
            (`gpus_per_cell` < 1), more cells per second, search times not comparable.
            Without GPUs every cell takes `cpus_per_cell` CPUs in both modes.
        gpus_per_cell: GPU share of one cell in throughput mode (1, 0.5, 0.25, ...).
        cpus_per_cell: CPUs of one cell (its torch intra-op threads on a CPU-only cluster).
    """

    mode: str = "timing"
    gpus_per_cell: float = 1.0
    cpus_per_cell: int = 1

    def ray_resources(self, cluster_has_gpus: bool) -> dict[str, float]:
        if not cluster_has_gpus:
            return {"cpu": self.cpus_per_cell}
        return {"cpu": self.cpus_per_cell, "gpu": 1.0 if self.mode == "timing" else self.gpus_per_cell}


def _parse_resources(raw: Any, where: str) -> Resources:
    if raw is None:
        return Resources()
    if not isinstance(raw, dict):
        raise ConfigError(where, "resources is a mapping with keys mode, gpus_per_cell, cpus_per_cell")
    valid = [f.name for f in fields(Resources)]
    for key in raw:
        if key not in valid:
            raise UnknownNameError("resources key", key, valid, where)
    res = Resources(**raw)
    if res.mode not in RESOURCE_MODES:
        raise UnknownNameError("resources mode", res.mode, RESOURCE_MODES, f"{where}.mode")
    g = res.gpus_per_cell
    if isinstance(g, bool) or not isinstance(g, (int, float)) or not 0 < g <= 1:
        raise ConfigError(f"{where}.gpus_per_cell", f"gpus_per_cell must be in (0, 1], got {g!r}")
    if res.mode == "timing" and g != 1:
        raise ConfigError(f"{where}.gpus_per_cell", "timing mode gives every cell a whole GPU; "
                                                   "set mode: throughput to share GPUs")
    c = res.cpus_per_cell
    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
        raise ConfigError(f"{where}.cpus_per_cell", f"cpus_per_cell must be a positive integer, got {c!r}")
    return res


@dataclass(frozen=True)
class SweepConfig:
    """A parsed sweep file.

    Attributes:
        name: results directory name (`results/<name>/`).
        source: the file it came from (for messages and provenance).
        benchmark: benchmark name, or "none" to run searches without lookups.
        benchmark_table: a converted table directory; unset = resolve from the cache / data root.
        extra_benchmarks: more benchmarks every found architecture is also looked up in (their
            columns sit beside the primary's; e.g. Table 5 shows nb301_distilled and yahpo_nb301).
            Not part of any cell id: `--relookup` adds them to rows that already exist.
        data_root: raw data root when $HARNESS_DATA is unset.
        images_dir: per-dataset directory of real images overriding the data-root search.
        max_retries: Ray retries of a cell whose worker process died.
        resources: what one cell asks of the cluster (see `Resources`).
        cells_per_trial: cells of one kind run in one Tune trial: 1 (default), N, or "auto"
            (harness/packing.py); a run option, not part of any cell id.
        cells: the expanded, resolved cells (grid order).
    """

    name: str
    source: str
    description: str = ""
    benchmark: str = "nasbench201"
    benchmark_table: str | None = None
    extra_benchmarks: tuple[str, ...] = ()
    data_root: str | None = None
    images_dir: tuple = ()
    max_retries: int = 1
    resources: Resources = field(default_factory=lambda: Resources())
    cells_per_trial: int | str = 1
    cells: tuple[CellConfig, ...] = field(default_factory=tuple)
    raw: dict = field(default_factory=dict, compare=False)


_TOP_KEYS = ("name", "description", "benchmark", "benchmark_table", "extra_benchmarks", "data_root", "images_dir",
             "max_retries", "resources", "cells_per_trial", "settings", "grid")


def _check_value(key: str, value: Any, where: str) -> Any:
    """Validate one cell field's value; returns it coerced (ints for seeds, floats for scales)."""
    if key in CHOICES:
        if value not in CHOICES[key]:
            raise UnknownNameError(key, value, CHOICES[key], where)
        return value
    if key == "method":
        if value not in list_methods():
            raise UnknownNameError("method", value, list_methods(), where)
        return value
    if key == "proxy":
        if value is not None and not isinstance(value, str):
            raise ConfigError(where, f"proxy must be a name or null, got {value!r}")
        return value
    if key == "n_samples":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(where, f"n_samples must be a positive integer or null, got {value!r}")
        return value
    if key == "space":
        if value not in list_spaces():
            raise UnknownNameError("space", value, list_spaces(), where)
        return value
    if key == "dataset":
        if value not in DATASETS:
            raise UnknownNameError("dataset", value, DATASETS, where)
        return value
    if key == "seed":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(where, f"seed must be a non-negative integer, got {value!r}")
        return value
    if key == "alpha_scale":
        if value is None:
            return None
        try:
            v = float(value)  # YAML reads "1e-3" (no dot) as a string
        except (TypeError, ValueError):
            raise ConfigError(where, f"alpha_scale must be a positive number, got {value!r}") from None
        if not (v > 0 and math.isfinite(v)):
            raise ConfigError(where, f"alpha_scale must be a positive finite number, got {value!r}")
        return v
    if key == "batch_size":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(where, f"batch_size must be a positive integer or null, got {value!r}")
        return value
    if key in ("abs_weights", "abs_alpha"):
        if value is not None and not isinstance(value, bool):
            raise ConfigError(where, f"{key} must be true, false or null (= default), got {value!r}")
        return value
    if key in ("augment", "reinit_weights_each_step"):
        if not isinstance(value, bool):
            raise ConfigError(where, f"{key} must be true or false, got {value!r}")
        return value
    if key == "space_options":
        if not isinstance(value, dict):
            raise ConfigError(where, f"space_options must be a mapping, got {value!r}")
        return tuple(sorted(value.items()))
    raise UnknownNameError("key", key, CELL_FIELDS, where)  # pragma: no cover - filtered earlier


def _check_space_options(cell: CellConfig, where: str) -> None:
    space = get_space(cell.space)
    valid = [f.name for f in fields(space.options)]
    for key, _ in cell.space_options:
        if key not in valid:
            raise UnknownNameError(f"{cell.space} space option", key, valid, where)
    if cell.dataset not in space.datasets:
        raise UnknownNameError(f"dataset for space {cell.space}", cell.dataset, space.datasets, where)


def _resolve_at(cell: CellConfig, where: str) -> CellConfig:
    """`resolve`, with any failure (e.g. `proxy: jacob`, a space option out of range) reported at `where`."""
    try:
        return resolve(cell)
    except ConfigError:
        raise
    except registry.UnknownNameError as exc:
        raise UnknownNameError(exc.kind, exc.name, exc.choices, where) from None
    except ValueError as exc:
        raise ConfigError(where, str(exc)) from None


_SEED_SENTINEL = "\x00seed\x00"  # stands for the seed in a template's id blob (JSON-escaped: unique)


def _id_blob(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)


_SEED_SENTINEL_JSON = json.dumps(_SEED_SENTINEL)


def _with_seed(template_state: dict[str, Any], seed: int, blob: tuple[str, str]) -> CellConfig:
    """A copy of a template cell (`template_state`: its `__dict__`) with another seed, without
    re-validating; its id is hashed from the template's blob (`_seeded_blob`) with the seed put in.

    Why this way: planning a million cells must take seconds and well under a GB. Copying the
    template's instance dict keeps CPython's key-sharing (split) layout, ~250 bytes a cell instead
    of ~1 KB for a fresh dict, and skips __init__ (~20 us a cell here)."""
    state = template_state.copy()
    state["seed"] = seed
    state["cell_id"] = hashlib.sha256(f"{blob[0]}{seed}{blob[1]}".encode()).hexdigest()[:16]
    cell = object.__new__(CellConfig)
    object.__setattr__(cell, "__dict__", state)  # frozen: plain assignment is refused
    return cell


def _seeded_blob(template: CellConfig) -> tuple[str, str]:
    """The JSON `cell_id` hashes for `template`, split where the seed goes (before, after)."""
    d = template.to_dict()
    d = {k: v for k, v in d.items() if not (k in _ADDED_FIELDS and v == _ADDED_FIELDS[k])}
    d["seed"] = _SEED_SENTINEL
    before, sep, after = _id_blob(d).partition(_SEED_SENTINEL_JSON)
    if not sep:  # cannot happen: the sentinel was just put in
        raise RuntimeError("internal error: the seed sentinel is missing from the cell's id blob")
    return before, after


def expand(settings: dict[str, Any], grid: dict[str, list], where: str = "") -> list[CellConfig]:
    """The product of the grid axes over the fixed settings, resolved, in grid order.

    `resolve` never depends on the seed, so each combination of the other axes is checked and
    resolved once (a template) and every seed is a copy of it; each cell's id is computed once.
    """
    names = list(grid)
    others = [i for i, n in enumerate(names) if n != "seed"]
    seeds = grid.get("seed", [settings.get("seed", CellConfig.seed)])
    seed_pos = names.index("seed") if "seed" in grid else None
    templates: dict[tuple, tuple[dict[str, Any], tuple[str, str]]] = {}
    for key in itertools.product(*(range(len(grid[names[i]])) for i in others)):
        values = {**settings, **{names[i]: grid[names[i]][j] for i, j in zip(others, key)}}
        values.pop("seed", None)
        template = CellConfig(**values)
        _check_space_options(template, where)
        template = _resolve_at(template, where)
        template.cell_id  # noqa: B018  (cached into the instance dict, whose layout the copies share)
        templates[key] = (template.__dict__, _seeded_blob(template))
    if len(others) > 1:
        key_of = operator.itemgetter(*others)
    else:
        key_of = (lambda combo, i=others[0]: (combo[i],)) if others else (lambda combo: ())
    # Cells can coincide only if two templates resolve alike or a seed repeats; else skip the check.
    distinct = len({blob for _, blob in templates.values()}) == len(templates) and len(set(seeds)) == len(seeds)
    cells: list[CellConfig] = []
    seen: set[str] = set()
    gc_was_on = gc.isenabled()
    gc.disable()  # a million new objects, no cycles: the collector's passes would cost more than the loop
    try:
        # Grid order: the file's axes in order (the seed's included), the last one fastest.
        for combo in itertools.product(*(range(len(grid[n])) for n in names)):
            state, blob = templates[key_of(combo)]
            cell = _with_seed(state, seeds[combo[seed_pos]] if seed_pos is not None else seeds[0], blob)
            if distinct:
                cells.append(cell)
            elif cell.cell_id not in seen:  # duplicate grid values collapse to one cell
                seen.add(cell.cell_id)
                cells.append(cell)
    finally:
        if gc_was_on:
            gc.enable()
    return cells


def _check_grid(grid: Any, settings: dict[str, Any], where: str) -> dict[str, list]:
    if not isinstance(grid, dict):
        raise ConfigError(where, "a grid is a mapping of cell fields to lists (or a list of such mappings)")
    for key in grid:
        if key not in CELL_FIELDS:
            raise UnknownNameError("cell field", key, CELL_FIELDS, where)
    overlap = sorted(set(settings) & set(grid))
    if overlap:
        raise ConfigError(where, f"{', '.join(overlap)} set in both settings and grid; keep one")
    checked = {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}.{key}", f"a grid axis is a non-empty list, got {values!r}")
        checked[key] = [_check_value(key, v, f"{where}.{key}[{i}]") for i, v in enumerate(values)]
    return checked


def parse(raw: Any, source: str = "<dict>") -> SweepConfig:
    """Validate a loaded YAML mapping into a `SweepConfig` (all errors name `source:key`)."""
    if not isinstance(raw, dict):
        raise ConfigError(source, "a sweep file must be a YAML mapping with keys: " + ", ".join(_TOP_KEYS))
    for key in raw:
        if key not in _TOP_KEYS:
            raise UnknownNameError("key", key, _TOP_KEYS, source)
    name = raw.get("name") or Path(source).stem
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"{source}:name", f"name must be letters, digits, '-' or '_', got {name!r}")

    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError(f"{source}:settings", "settings must be a mapping of cell fields")
    for key in settings:
        if key not in CELL_FIELDS:
            raise UnknownNameError("cell field", key, CELL_FIELDS, f"{source}:settings")
    settings = {k: _check_value(k, v, f"{source}:settings.{k}") for k, v in settings.items()}

    grid = raw.get("grid") or {}
    # A grid is one mapping of axes, or a list of them (the union of their products, in order).
    grids = grid if isinstance(grid, list) else [grid]
    cells, seen = [], set()
    for i, sub in enumerate(grids):
        where = f"{source}:grid" + (f"[{i}]" if isinstance(grid, list) else "")
        expanded = expand(settings, _check_grid(sub, settings, where), where)
        if len(grids) == 1:
            cells = expanded  # already unique
            break
        for cell in expanded:
            if cell.cell_id not in seen:
                seen.add(cell.cell_id)
                cells.append(cell)

    benchmark = raw.get("benchmark", "nasbench201")
    check_benchmark(benchmark, cells, f"{source}:benchmark")
    extra_benchmarks = check_extra_benchmarks(raw.get("extra_benchmarks"), benchmark, cells, f"{source}:extra_benchmarks")
    _check_methods(cells, source)
    images_dir = raw.get("images_dir") or {}
    if not isinstance(images_dir, dict):
        raise ConfigError(f"{source}:images_dir", "images_dir maps a dataset name to a directory")
    for ds in images_dir:
        if ds not in DATASETS:
            raise UnknownNameError("dataset", ds, DATASETS, f"{source}:images_dir")
    max_retries = raw.get("max_retries", 1)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigError(f"{source}:max_retries", f"max_retries must be a non-negative integer, got {max_retries!r}")
    cells_per_trial = raw.get("cells_per_trial", 1)
    if cells_per_trial != "auto" and (isinstance(cells_per_trial, bool) or not isinstance(cells_per_trial, int)
                                      or cells_per_trial < 1):
        raise ConfigError(f"{source}:cells_per_trial",
                          f"cells_per_trial must be a positive integer or 'auto', got {cells_per_trial!r}")

    return SweepConfig(
        name=name, source=source, description=str(raw.get("description", "")), benchmark=benchmark,
        benchmark_table=raw.get("benchmark_table"), extra_benchmarks=extra_benchmarks, data_root=raw.get("data_root"),
        images_dir=tuple(sorted(images_dir.items())), max_retries=max_retries, cells_per_trial=cells_per_trial,
        resources=_parse_resources(raw.get("resources"), f"{source}:resources"), cells=tuple(cells), raw=raw,
    )


def field_value(key: str, text: str, where: str) -> Any:
    """A cell field's value typed as a sweep file types it: `1e-3` -> 0.001, `true` -> True, `0` -> 0."""
    if key not in CELL_FIELDS:
        raise UnknownNameError("cell field", key, CELL_FIELDS, where)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raw = text
    return _check_value(key, raw, where)


def load(path: str | Path) -> SweepConfig:
    """Read and validate a sweep YAML file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(str(path), "sweep file not found; pass a path such as sweeps/quickstart.yaml") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "is a directory, not a sweep file; pass a YAML file such as "
                                     "sweeps/quickstart.yaml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read the sweep file ({type(exc).__name__}: "
                                     f"{' '.join(str(exc).split())[:160]})") from None
    try:
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml when present
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), f"not valid YAML: {' '.join(str(exc).split())}") from None
    return parse(raw, str(path))


def _check_methods(cells: list[CellConfig], source: str) -> None:
    """A method x space pair the method declares unsupported fails at load, not in every worker."""
    pairs = sorted({(c.space, c.method) for c in cells if c.method != "freedarts"})  # freedarts: every space
    if not pairs:
        return  # keeps a FreeDARTS sweep's load free of the baselines' imports (torch)
    from harness.methods import get_method, incompatibility
    from spaces import get_space

    for space, method in pairs:
        reason = incompatibility(get_method(method), get_space(space))
        if reason:
            raise ConfigError(f"{source}:method", f"{reason}; remove those cells or pick another method")

