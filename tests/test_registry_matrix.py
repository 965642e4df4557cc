"""Every supported space x method pair, end to end: one tiny cell each, looked up in the space's benchmark.

Parametrised over the registries (`spaces.SPACES`, `harness.methods.METHODS`, `benchmarks.BENCHMARKS`),
so a newly registered space, method or benchmark is run here with no extra test: the only per-space
entry is its tiny options below, and a completeness test fails until a new space adds one.
Pairs a method declares unsupported (`MethodSpec.needs` / `.spaces`) must fail, at run time, with
that same reason. Each cell takes ~0.1-3 s on a 2-core machine.
"""

from __future__ import annotations

import functools

import pytest

from benchmarks import BENCHMARKS, get_benchmark
from benchmarks.paths import cache_root
from harness.config import CellConfig, resolve
from harness.methods import get_method, incompatibility, list_methods
from harness.runner import RunContext, run_cell
from spaces import get_space, list_spaces

# The smallest supernet / network each space builds (tests/test_spaces.py uses the same sizes).
TINY = {"nasbench201": {"channels": 4, "cells_per_stage": 1},
        "darts": {"preset": "cifar8", "channels": 4, "layers": 3},
        "nasbench1shot1": {"channels": 4, "layers": 3},
        "mobilenet": {"width_mult": 0.1}}
N_SAMPLES = 2  # sampling methods: two architectures are enough to exercise the choice
# Pairs whose real proxy is too costly for a unit test run with a cheap stand-in proxy (the method's
# loop, lookup and row are the same): a Zero-Cost-PT DARTS search is ~260 float64 SynFlow passes of
# the supernet (minutes even at these tiny options on 2 cores).
STAND_IN_PROXY = {("darts", "zero_cost_pt")}
# Lookup outcomes a correct run may end with: partial tables (NB101 here) may miss a random cell.
PARTIAL_BENCHMARKS = {"nasbench101"}
# Where the space's default benchmark is costly to build here: DARTS's nb301_distilled is fitted at conversion
# (1-2 min on 2 cores; tests/test_benchmark_nb301_distilled.py converts and checks it), YAHPO answers at once.
MATRIX_BENCHMARK = {"darts": "yahpo_nb301"}

PAIRS = [(s, m) for s in list_spaces() for m in list_methods()]
SUPPORTED = [p for p in PAIRS if incompatibility(get_method(p[1]), get_space(p[0])) is None]
UNSUPPORTED = [p for p in PAIRS if p not in SUPPORTED]


def _cell(space: str, method: str, **kw) -> CellConfig:
    spec = get_space(space)
    m = get_method(method)
    n = N_SAMPLES if m.default_n_samples not in (None, 1) else None
    mode = "oneshot" if m.reads is None or "mode" in m.reads else "iterative"  # a setting it does not read keeps its default
    return resolve(CellConfig(space=space, dataset=spec.datasets[0], method=method, mode=mode,
                              space_options=tuple(sorted(TINY[space].items())), n_samples=n, **kw))


@functools.lru_cache(maxsize=None)
def _context(benchmark: str, data_root: str) -> RunContext:
    from pathlib import Path

    if benchmark == "none":
        return RunContext(sweep="matrix", benchmark="none")
    table = get_benchmark(benchmark).resolve_table(Path(data_root), cache_root())
    assert table is not None, f"{benchmark}: no table from {data_root}"
    return RunContext(sweep="matrix", benchmark=benchmark, table_dir=str(table))


def test_every_space_has_tiny_options_and_a_known_default_benchmark():
    assert set(list_spaces()) <= set(TINY)
    for name in list_spaces():
        get_space(name).options(**TINY[name])
        bench = get_space(name).default_benchmark
        assert bench == "none" or name in BENCHMARKS[bench].spaces


def test_every_benchmark_answers_registered_spaces_only():
    for spec in BENCHMARKS.values():
        assert spec.spaces and set(spec.spaces) <= set(list_spaces()), spec.name


def test_every_method_runs_on_at_least_one_space():
    assert {m for _, m in SUPPORTED} == set(list_methods())


@pytest.mark.parametrize("space, method", SUPPORTED, ids=[f"{s}-{m}" for s, m in SUPPORTED])
def test_a_tiny_cell_runs_end_to_end(space, method, data_root, monkeypatch):
    if (space, method) in STAND_IN_PROXY:
        from harness import proxies
        from harness.methods import zero_cost_pt

        def alive_count(net, batch, copy=True):
            return float(sum(net.alive(g).sum() for g in net.groups))

        monkeypatch.setattr(zero_cost_pt, "get_proxy", lambda name: proxies.Proxy("stand-in", alive_count, "test"))
    benchmark = MATRIX_BENCHMARK.get(space, get_space(space).default_benchmark)
    row, trajectory = run_cell(_cell(space, method), _context(benchmark, str(data_root)))
    assert row["status"] == "ok", row.get("error")
    genotype = get_space(space).parse_arch_key(row["arch"])
    assert get_space(space).arch_key(genotype) == row["arch"]  # the row's arch is the space's canonical key
    assert row["params_m"] > 0 and trajectory and row["method"] == method
    expected = ({"skipped"} if benchmark == "none" else
                {"ok", "not_in_table"} if benchmark in PARTIAL_BENCHMARKS else {"ok"})
    assert row["lookup_status"] in expected, row.get("lookup_error")
    if row["lookup_status"] == "ok":  # the benchmark's headline column for the search dataset is filled
        assert 0 < row[get_benchmark(benchmark).headline_metric(row["dataset"])] <= 100


@pytest.mark.parametrize("space, method", UNSUPPORTED, ids=[f"{s}-{m}" for s, m in UNSUPPORTED])
def test_an_unsupported_pair_fails_naming_the_declared_reason(space, method, data_root):
    row, _ = run_cell(_cell(space, method), _context("none", str(data_root)))
    assert row["status"] == "failed"
    reason = incompatibility(get_method(method), get_space(space))
    assert reason.split(";")[0] in row["error"]
