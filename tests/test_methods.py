"""Baseline methods (harness/methods: random, zero_cost, zero_cost_pt) end to end on tiny NB201
networks (channels=4, one cell per stage) with the real NB201 table; their config defaults."""

from __future__ import annotations

import dataclasses
import json
import math
import random

import pytest
import torch

from benchmarks import get_benchmark
from benchmarks.paths import cache_root
from harness.config import CellConfig, parse, resolve
from harness.errors import UnknownNameError
from harness.methods import get_method, list_methods
from harness.methods.zero_cost import sample_distinct
from harness.runner import RunContext, run_cell
from spaces import get_space
from spaces import nasbench201 as nb

TINY = (("cells_per_stage", 1), ("channels", 4))


@pytest.fixture(scope="module")
def ctx(data_root):
    table = get_benchmark("nasbench201").resolve_table(data_root, cache_root())
    assert table is not None
    return RunContext(sweep="t", table_dir=str(table))


def _run(ctx, **kw):
    return run_cell(resolve(CellConfig(space_options=TINY, **kw)), ctx)


def test_registry_and_resolved_defaults():
    assert list_methods() == ["freedarts", "most_params", "random", "zero_cost", "zero_cost_pt"]
    with pytest.raises(ValueError, match="unknown method 'nope'; valid: freedarts, most_params, random, zero_cost"):
        get_method("nope")
    zc = resolve(CellConfig(method="zero_cost"))
    assert (zc.proxy, zc.n_samples) == ("synflow", 1000)
    assert (resolve(CellConfig(method="zero_cost_pt")).proxy, resolve(CellConfig(method="random")).n_samples) == \
        ("synflow", 1)
    fd = resolve(CellConfig())
    assert (fd.proxy, fd.n_samples) == (None, None)
    assert resolve(CellConfig(method="zero_cost", proxy="synflow", n_samples=1000)).cell_id == zc.cell_id


def test_unknown_proxy_and_method_name_the_choices():
    with pytest.raises(ValueError, match="unknown proxy 'jacob'; valid: grad_norm, snip, synflow"):
        resolve(CellConfig(method="zero_cost", proxy="jacob"))
    with pytest.raises(UnknownNameError, match="zero_cost_pt"):
        parse({"name": "x", "grid": {"method": ["zero-cost"]}}, "s.yaml")


def test_random_draws_the_seeded_uniform_cell(ctx):
    row, traj = _run(ctx, method="random", seed=7)
    assert row["status"] == "ok", row.get("error")
    assert row["arch"] == nb.sample_genotype(random.Random(7)).arch_str()
    assert row["n_steps"] == 1 and row["score_passes"] == 0 and row.get("method_score") is None
    assert len(traj) == 1 and traj[0]["alpha_arch"] == row["arch"]
    assert traj[0]["cifar10_test_acc"] == row["cifar10_test_acc"] and 10 < row["cifar10_test_acc"] < 95
    other, _ = _run(ctx, method="random", seed=8)
    assert other["arch"] != row["arch"]


def test_random_rejects_more_samples(ctx):
    with pytest.raises(ValueError, match="draws one architecture per cell"):  # at load, in resolve
        _run(ctx, method="random", n_samples=3)
    cell = dataclasses.replace(resolve(CellConfig(method="random", seed=0)), n_samples=3)  # past resolve: the run says so too
    row, _ = run_cell(cell, ctx)
    assert row["status"] == "failed" and "draws one architecture per cell" in row["error"]


def test_zero_cost_keeps_the_best_of_n_distinct_samples(ctx):
    row, traj = _run(ctx, method="zero_cost", n_samples=6, seed=3)
    assert row["status"] == "ok", row.get("error")
    assert row["n_steps"] == 6 == len(traj) == row["score_passes"]
    assert len({t["alpha_arch"] for t in traj}) == 6
    best = max(traj, key=lambda t: t["score"])
    assert row["arch"] == best["alpha_arch"] and row["method_score"] == best["score"]
    assert all(t["score"] > 0 for t in traj) and all(t["cifar10_test_acc"] is not None for t in traj)
    again, _ = _run(ctx, method="zero_cost", n_samples=6, seed=3)
    assert again["arch"] == row["arch"] and again["method_score"] == row["method_score"]


def test_zero_cost_snip_needs_labels_and_runs_with_them(ctx):
    row, _ = _run(ctx, method="zero_cost", proxy="snip", n_samples=2)
    assert row["status"] == "failed" and "variant: labels" in row["error"]
    row, traj = _run(ctx, method="zero_cost", proxy="grad_norm", variant="labels", n_samples=2)
    assert row["status"] == "ok", row.get("error")
    assert len(traj) == 2 and all(math.isfinite(t["score"]) for t in traj)


def test_most_params_keeps_the_largest_of_the_zero_cost_samples(ctx):
    mp = resolve(CellConfig(method="most_params"))
    assert (mp.proxy, mp.n_samples) == (None, 1000)
    row, traj = _run(ctx, method="most_params", n_samples=6, seed=3)
    assert row["status"] == "ok", row.get("error")
    zc_row, zc_traj = _run(ctx, method="zero_cost", n_samples=6, seed=3)
    assert [t["alpha_arch"] for t in traj] == [t["alpha_arch"] for t in zc_traj]  # the same N samples
    options = nb.NB201Options(channels=4, cells_per_stage=1)
    sizes = [nb.param_count(nb.Genotype.from_arch_str(t["alpha_arch"]), 10, options) for t in traj]
    assert [t["score"] for t in traj] == sizes
    assert row["arch"] == traj[sizes.index(max(sizes))]["alpha_arch"] and row["method_score"] == max(sizes)
    assert row["params_m"] * 1e6 == pytest.approx(max(sizes))
    assert get_method("most_params").run(resolve(CellConfig(method="most_params", n_samples=2, space_options=TINY)),
                                         get_space("nasbench201"), None, None, engine="fast").result.arch_key


def test_sample_distinct_covers_the_space_when_asked():
    space = get_space("nasbench201")
    every = sample_distinct(space, random.Random(0), 20_000)
    assert len(every) == 15_625 == len({g.arch_str() for g in every})
    few = sample_distinct(space, random.Random(0), 50)
    assert len({g.arch_str() for g in few}) == 50


def test_zero_cost_pt_decides_every_edge_once(ctx):
    row, traj = _run(ctx, method="zero_cost_pt", seed=1)
    assert row["status"] == "ok", row.get("error")
    assert row["n_steps"] == 6 and len(traj) == 7
    assert row["score_passes"] == 1 + 6 * (5 + 1)  # base, then per edge 5 masked ops + the projected net
    assert sorted(t["edge"] for t in traj[1:]) == list(range(6))
    ops = nb.Genotype.from_arch_str(row["arch"]).ops
    assert all(ops[t["edge"]] == t["op"] for t in traj[1:])
    assert traj[-1]["alpha_arch"] == row["arch"] and math.isfinite(row["method_score"])
    importance = json.loads(traj[-1]["scores_json"])["cell"]
    assert all(math.isfinite(v) for r in importance for v in r)
    # The kept op is the one whose removal lowered the proxy most, i.e. the largest importance.
    for t in traj[1:]:
        assert importance[t["edge"]].index(max(importance[t["edge"]])) == nb.OPS.index(t["op"])


def test_space_functions_for_baselines():
    space = get_space("nasbench201")
    g = space.sample_genotype(random.Random(0))
    net = space.discrete_network(g, 10, space.options(channels=4, cells_per_stage=1))
    assert sum(p.numel() for p in net.parameters()) == space.param_count(g, 10, space.options(channels=4,
                                                                                             cells_per_stage=1))
    assert len(space.all_genotypes()) == 5 ** 6



def test_zero_cost_pt_on_darts_decides_ops_then_two_inputs_per_node(monkeypatch):
    """The DARTS decision logic with a stand-in proxy whose score is a fixed weight per alive op (a real
    SynFlow pass on a DARTS supernet takes seconds, and a search makes ~260): every edge must keep
    its heaviest non-`none` op, every node its two heaviest inputs."""
    from harness import proxies
    from harness.methods import zero_cost_pt
    from spaces import darts

    gen = torch.Generator().manual_seed(0)
    weight = {g: torch.rand(len(darts.EDGES), len(darts.OPS), generator=gen, dtype=torch.float64) for g in darts.GROUPS}

    def alive_weight(net, batch, copy=True):  # removing a heavy op lowers the score most: it is kept
        return float(sum((weight[g] * net.alive(g)).sum() for g in darts.GROUPS))

    monkeypatch.setattr(zero_cost_pt, "get_proxy", lambda name: proxies.Proxy("w", alive_weight, "test", False))
    cell = resolve(CellConfig(space="darts", method="zero_cost_pt", seed=0,
                              space_options=(("channels", 4), ("layers", 3), ("preset", "cifar8"))))
    row, traj = run_cell(cell, RunContext(sweep="t", table_dir=None))
    assert row["status"] == "ok", row.get("error")
    n_edges, n_nodes = 2 * len(darts.EDGES), 2 * darts.STEPS
    assert row["n_steps"] == n_edges + n_nodes and len(traj) == 1 + n_edges + n_nodes
    # base; per edge its 7 non-`none` ops masked + the projected net; per node each input masked + the result
    inputs = 2 * sum(node + 2 for node in range(darts.STEPS))
    assert row["score_passes"] == 1 + n_edges * (7 + 1) + inputs + n_nodes
    assert all(t["op"] not in (None, "none") for t in traj[1:1 + n_edges])
    assert all(t["op"] is None for t in traj[1 + n_edges:])  # topology steps keep no single op
    genotype = darts.Genotype.parse(row["arch"])
    for group, pairs in (("normal", genotype.normal), ("reduce", genotype.reduce)):
        w = weight[group].clone()
        w[:, 0] = -1  # `none` is never a candidate
        best_op, start = w.argmax(dim=1), 0
        for node in range(darts.STEPS):
            rows = list(range(start, start + node + 2))
            heaviest = sorted(rows, key=lambda r: -float(w[r, best_op[r]]))[:2]
            chosen = pairs[2 * node: 2 * node + 2]
            assert sorted(start + j for _, j in chosen) == sorted(heaviest)
            assert all(op == darts.OPS[int(best_op[start + j])] for op, j in chosen)
            start += node + 2
    assert traj[-1]["alpha_arch"] == row["arch"] and math.isfinite(row["method_score"])
