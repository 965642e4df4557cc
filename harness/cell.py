"""One cell of a sweep: `CellConfig` (every setting of one search), its defaults and its `cell_id`.

Fields left unset (`None`) are resolved to the documented default of the space / variant / method
in `resolve()`, and `cell_id` hashes the *resolved* cell, so writing a default explicitly does not
create a new cell. Every ambiguity of FREEDARTS_SPEC.md is a `CellConfig` field (alpha_transform,
abs_weights, abs_alpha, reinit_weights_each_step, tie_break, prune_pool, bn_mode, dtype,
batch_size, ...). Sweep files become cells in `harness.config`, which re-exports these names.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any

from harness.datasets import NORMALIZATIONS, VARIANTS
from harness.methods import get_method
from harness.proxies import get_proxy
from spaces import get_space

MODES = ("iterative", "oneshot")
CHOICES: dict[str, tuple[str, ...]] = {
    "variant": VARIANTS,
    "mode": MODES,
    "alpha_transform": ("raw", "softmax"),
    "tie_break": ("first", "random"),
    "prune_pool": ("global", "per_group"),
    "bn_mode": ("train", "eval"),
    "dtype": ("float32", "float64"),
    "normalization": NORMALIZATIONS,
}


@dataclass(frozen=True)
class CellConfig:
    """One FreeDARTS search. `None` = "the default for this space / variant" (see `resolve`).

    Attributes:
        space: search space (`spaces.list_spaces()`).
        dataset: search dataset; the supernet's input size and head follow it, and its real
            images feed the labelled variants (FREEDARTS_SPEC §1.2 item 8).
        variant: "D" (all-ones input, |W|, loss = sum of logits), "labels" (one real batch, CE),
            "random_labels" (same images, uniform random labels; FreeDARTS-L).
        mode: "iterative" (one op per step over a global pool, re-scored after each prune,
            spec §3.2) or "oneshot" (score once, per-edge argmax, spec §3.1).
        seed: seeds weights, alpha, the image sample, random labels and random tie-breaks.
        alpha_scale: a in alpha = a * randn (space default: 1e-3 for NB201).
        alpha_transform: "raw" (w = alpha, authors' code, default) or "softmax" (paper text).
        abs_weights: make every non-alpha `state_dict` entry positive before scoring
            (default: True for D, False for the labelled variants; spec §1.2-1.3).
        abs_alpha: make alpha positive (default: abs_weights and the space registers alpha in its
            state_dict, as NB201's code does; spec §1.2 step 3).
        batch_size: images per scoring batch (default: 1 for D, 64 for labelled; spec §1.3).
        augment: random crop + flip on real images, as the authors' search loader (default True).
        normalization: "nb201" (per-dataset NB201 mean/std) or "darts" (space default).
        reinit_weights_each_step: redraw W before each iterative step, keeping alpha and masks
            (Algorithm 1 line 3 read literally; default False, spec §2).
        tie_break: "first" (row-major first minimum, default) or "random" (seeded) among equal
            lowest scores in iterative pruning.
        prune_pool: "global" (one pool over all groups, default) or "per_group" (each step prunes
            the weakest op of every group that still has candidates).
        bn_mode: "train" (batch statistics, as the code) or "eval" (running statistics).
        dtype: "float32" (code) or "float64".
        space_options: the space's own options (e.g. NB201 `channels`), as sorted (key, value) pairs.
        method: search method (`harness.methods.list_methods()`); "freedarts" by default, baselines
            (random, zero-cost predictors, ...) share the space, the inputs and the lookups.
        proxy: the zero-cost proxy of a proxy-based method (None: the method's default / unused).
        n_samples: architectures a sampling method draws (None: the method's default / unused).
    """

    space: str = "nasbench201"
    dataset: str = "cifar10"
    variant: str = "D"
    mode: str = "iterative"
    seed: int = 0
    alpha_scale: float | None = None
    alpha_transform: str = "raw"
    abs_weights: bool | None = None
    abs_alpha: bool | None = None
    batch_size: int | None = None
    augment: bool = True
    normalization: str | None = None
    reinit_weights_each_step: bool = False
    tie_break: str = "first"
    prune_pool: str = "global"
    bn_mode: str = "train"
    dtype: str = "float32"
    space_options: tuple = ()
    method: str = "freedarts"
    proxy: str | None = None
    n_samples: int | None = None

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.space_options)

    @functools.cached_property
    def typed_options(self) -> Any:
        """The space's options dataclass of this cell (e.g. `NB201Options`), built once per cell object.

        `resolve` sets it while it resolves the cell; on a worker it is built once from the shipped
        cell and every user (method, runner) reads this one object."""
        return get_space(self.space).options(**self.options)

    def to_dict(self) -> dict[str, Any]:
        # Every field is a plain value (space_options a tuple of pairs): no deep copy needed, and
        # dataclasses.asdict's recursion dominated planning a 10^5-cell grid.
        d = {name: getattr(self, name) for name in CELL_FIELDS}
        d["space_options"] = dict(self.space_options)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CellConfig:
        d = dict(d)
        d["space_options"] = tuple(sorted(dict(d.get("space_options") or {}).items()))
        return cls(**d)

    @functools.cached_property
    def cell_id(self) -> str:
        """Stable id: hash of the resolved cell (resolve first; unresolved cells are rejected).

        Computed once per cell object (cached: a frozen cell never changes).

        Fields added after the first release are left out of the hash while they hold their
        neutral value (`_ADDED_FIELDS`), so adding an option never renames existing cells: a
        sweep extended after an upgrade still resumes instead of re-running everything.
        """
        d = self.to_dict()
        unresolved = [k for k, v in d.items() if v is None and k not in _ADDED_FIELDS]
        if unresolved:
            raise ValueError(f"cell_id of an unresolved cell (unset: {unresolved}); call resolve() first")
        d = {k: v for k, v in d.items() if not (k in _ADDED_FIELDS and v == _ADDED_FIELDS[k])}
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


CELL_FIELDS = tuple(f.name for f in fields(CellConfig))
# Fields added after v0.1 -> their neutral value, omitted from cell_id (see CellConfig.cell_id).
_ADDED_FIELDS: dict[str, Any] = {"method": "freedarts", "proxy": None, "n_samples": None}


# The search settings: what a method may read besides space, dataset, seed, space_options and its
# own proxy / n_samples (`MethodSpec.reads`; FreeDARTS reads them all).
SEARCH_SETTINGS = ("variant", "mode", "alpha_scale", "alpha_transform", "abs_weights", "abs_alpha", "batch_size",
                   "augment", "normalization", "reinit_weights_each_step", "tie_break", "prune_pool", "bn_mode",
                   "dtype")
_DEFAULTS = {f.name: f.default for f in fields(CellConfig)}


def resolve(cell: CellConfig) -> CellConfig:
    """Fill every `None` with the documented default of the space / variant / method.

    A search setting the cell's method does not read (`MethodSpec.reads`) must keep its default:
    otherwise one search would run under several cell ids (e.g. `random` over three alpha-scales)
    and be counted as several seeds."""
    method = get_method(cell.method)
    resolved = _fill(cell)
    if method.reads is not None:
        unread = [k for k in SEARCH_SETTINGS if k not in method.reads]
        neutral = _fill(dataclasses.replace(cell, **{k: _DEFAULTS[k] for k in unread}))
        changed = [k for k in unread if getattr(cell, k) not in (_DEFAULTS[k], getattr(neutral, k))]
        if changed:
            reads = ", ".join(method.reads) or "none"
            raise ValueError(f"method {cell.method!r} does not read {', '.join(f'{k}={getattr(cell, k)!r}' for k in changed)} "
                             f"(the search settings it reads: {reads}); set these only in the grid entries of the "
                             "methods that read them (e.g. a `- method: [freedarts]` entry of `grid:`)")
    if method.check is not None:
        method.check(resolved)  # the method's own rules (e.g. random: n_samples 1)
    return resolved


def _fill(cell: CellConfig) -> CellConfig:
    space = get_space(cell.space)
    abs_weights = (cell.variant == "D") if cell.abs_weights is None else cell.abs_weights
    abs_alpha = (abs_weights and space.alpha_in_state_dict) if cell.abs_alpha is None else cell.abs_alpha
    options_obj = space.options(**cell.options)
    options = dataclasses.asdict(options_obj)
    default_scale = space.alpha_scale_default(options_obj)  # e.g. DARTS preset imagenet: 5e-4
    method = get_method(cell.method)  # its proxy / n_samples defaults (FreeDARTS: none, cell_id unchanged)
    for key in ("proxy", "n_samples"):  # a setting the method does not take would change the cell id, not the search
        if getattr(cell, key) is not None and key not in method.settings():
            takes = ", ".join(method.settings()) or "no method settings"
            raise ValueError(f"method {cell.method!r} takes no {key} (got {getattr(cell, key)!r}; it takes {takes}); "
                             f"remove {key}: from its cells")
    proxy = method.default_proxy if cell.proxy is None else cell.proxy
    if proxy is not None:
        get_proxy(proxy)  # unknown names fail here, with the valid choices
    resolved = dataclasses.replace(
        cell,
        alpha_scale=float(default_scale if cell.alpha_scale is None else cell.alpha_scale),
        abs_weights=abs_weights,
        abs_alpha=abs_alpha,
        batch_size=(1 if cell.variant == "D" else 64) if cell.batch_size is None else cell.batch_size,
        normalization=cell.normalization or space.default_normalization,
        space_options=tuple(sorted(options.items())),
        proxy=proxy,
        n_samples=method.default_n_samples if cell.n_samples is None else cell.n_samples,
    )
    resolved.__dict__["typed_options"] = options_obj  # the object `space_options` was just read from
    return resolved
