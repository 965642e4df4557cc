"""NAS-Bench-1Shot1 space 3: genotypes, NB101 conversion and hash, derive (top-k parents), the alpha
groups with structurally dead input entries, iterative op / edge pruning, and one cell end to end
with its NB101 lookup (a hit and a `not_in_table` miss in the staged partial table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import nasbench101 as nb101
from harness import freedarts, zeros
from harness.config import CellConfig, resolve
from harness.data import ones_batch
from harness.runner import RunContext, run_cell
from spaces import get_space
from spaces import nasbench1shot1 as ns

DATA = Path("/work/shared/data/nasbench101")
TINY = ns.NB1Shot1Options(channels=4, layers=3)
G = "1:conv3x3-bn-relu<0|2:conv3x3-bn-relu<1|3:maxpool3x3<0|4:conv1x1-bn-relu<0,2|5:conv3x3-bn-relu<3,4|out<2,5"
# Space-3 genotypes whose NB101 cells are among the 1,000 of nasbench-vis_data-1k.json (found by sampling).
IN_1K = "1:conv1x1-bn-relu<0|2:maxpool3x3<1|3:maxpool3x3<1|4:conv3x3-bn-relu<1,3|5:maxpool3x3<3,4|out<2,3"


def test_genotype_string_round_trip_and_bad_strings():
    g = ns.Genotype.from_str(G)
    assert str(g) == G and g.parents == ((1,), (0,), (0, 2), (3, 4)) and g.output == (2, 5)
    assert ns.parse_arch_key(ns.arch_key(g)) == g
    for bad in ("", G.replace("out<2,5", "out<2"), G.replace("1:conv3x3-bn-relu<0", "1:conv3x3-bn-relu<1"),
                G.replace("4:conv1x1-bn-relu<0,2", "4:conv1x1-bn-relu<0,4"), G.replace("maxpool3x3", "avgpool")):
        with pytest.raises(ValueError, match="NB1Shot1"):
            ns.Genotype.from_str(bad)
    with pytest.raises(ValueError, match="module hash"):
        ns.parse_arch_key(G + "#" + "0" * 32)


def test_adjacency_is_built_back_from_the_output_and_pruned_like_nb101():
    g = ns.Genotype.from_str(G)
    a = g.adjacency()
    # output <- 2, 5; 5 <- 3, 4; 4 <- 0, 2; 3 <- 0; 2 <- 1; 1 <- 0: every node reached, 9 edges.
    assert int(a.sum()) == 9 and a[2, 6] and a[5, 6] and a[3, 5] and a[4, 5] and a[0, 4] and a[2, 4]
    # Node 3 and 4 unreached: output <- 1, 2 only.
    g2 = ns.Genotype.from_str("1:conv3x3-bn-relu<0|2:conv1x1-bn-relu<0|3:maxpool3x3<2|4:conv1x1-bn-relu<0,3|5:conv3x3-bn-relu<3,4|out<1,2")
    a2 = g2.adjacency()
    assert a2[:, 3].sum() == a2[:, 4].sum() == a2[:, 5].sum() == 0
    matrix, ops = g2.nb101_cell()
    assert matrix.shape == (4, 4) and ops == ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "output"]
    assert g2.module_hash() == nb101.module_hash(matrix, ops)
    assert ns.arch_key(g2).endswith("#" + g2.module_hash())


def test_param_count_builds_the_nb101_network_and_matches_nb101_trainable_parameters():
    import pickle

    with (DATA / "nb101_dummy.pkl").open("rb") as fh:
        data = pickle.load(fh)
    for key, (fixed, _) in list(data.items())[:6]:
        matrix, ops = nb101.prune(fixed["module_adjacency"], fixed["module_operations"])
        assert ns.nb101_param_count(matrix, ops) == fixed["trainable_parameters"], key
    net = ns.NB101Network(*ns.Genotype.from_str(G).nb101_cell())
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_derive_takes_top_k_parents_ties_to_the_lower_index_and_never_dead_entries():
    scores = {g: torch.zeros(s) for g, s in ns.GROUP_SHAPES.items()}
    alive = ns.structural_mask()
    scores["ops"][0, 2] = 1.0
    scores["inputs"][0] = torch.tensor([0.0, 0.0, 9.0, 9.0, 9.0])  # dead entries of node 2: ignored
    scores["inputs"][2] = torch.tensor([0.1, 0.5, 0.5, 0.2, 9.0])  # node 4: tie 1/2 beats 3; 4 is dead
    scores["output"][0] = torch.tensor([0.0, 0.3, 0.0, 0.0, 0.3, 0.0])
    g = ns.derive(scores, alive)
    assert g.ops[0] == "conv1x1-bn-relu" and g.ops[1] == "maxpool3x3"  # all-zero row -> first op
    assert g.parents == ((0,), (0,), (1, 2), (0, 1)) and g.output == (1, 4)


def _tiny_net(edge_selection: str = "topk") -> ns.NB1Shot1Supernet:
    torch.manual_seed(0)
    net = ns.build_supernet(ns.NB1Shot1Options(channels=4, layers=3, edge_selection=edge_selection), 10, 32)
    zeros.prepare(net, abs_weights=True, abs_alpha=False, bn_mode="train", dtype="float32")
    return net


def test_dead_input_entries_score_exactly_zero_and_live_ones_do_not():
    net = _tiny_net()
    result = zeros.score(net, ones_batch(32))
    dead = ~ns.structural_mask()["inputs"]
    assert int(dead.sum()) == 6
    assert (result.scores["inputs"][dead] == 0).all()
    assert (result.scores["inputs"][~dead] > 0).all() and (result.scores["output"] > 0).all()


@pytest.mark.parametrize("edge_selection, steps", [("topk", 10), ("iterative", 22)])
def test_iterative_search_prunes_ops_and_optionally_edges(edge_selection, steps):
    net = _tiny_net(edge_selection)
    result = freedarts.search(net, ones_batch(32), get_space("nasbench1shot1"), freedarts.SearchSettings())
    assert result.n_steps == steps
    assert (result.alive["ops"].sum(dim=1) == 1).all()
    if edge_selection == "iterative":
        assert result.alive["inputs"].sum(dim=1).tolist() == [1, 1, 2, 2]
        assert result.alive["output"].sum().item() == 2
        assert {s.pruned_group for s in result.steps[1:]} == {"ops", "inputs", "output"}
    else:
        assert {s.pruned_group for s in result.steps[1:]} == {"ops"}
        assert torch.equal(result.alive["inputs"], ns.structural_mask()["inputs"])
    g = ns.parse_arch_key(result.arch_key)
    chosen = [ns.OPS[int(k)] for k in torch.argmax(result.alive["ops"].int(), dim=1)]
    assert list(g.ops) == chosen


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory) -> str:
    src = tmp_path_factory.mktemp("nb101src")
    for name in ("nb101_dummy.pkl", "nasbench-vis_data-1k.json"):
        (src / name).symlink_to(DATA / name)
    return str(nb101.convert(src, tmp_path_factory.mktemp("nb101table")))


def test_lookup_of_a_space3_cell_in_the_partial_table(table_dir):
    table = nb101.open_table(Path(table_dir))
    got = table.lookup(ns.arch_key(ns.Genotype.from_str(IN_1K)))
    assert 0 < got["nb101_valid_acc"] <= 100 and got["nb101_n_repeats"] == 1


def test_a_cell_end_to_end_records_values_or_not_in_table_with_coverage(table_dir):
    cell = resolve(CellConfig(space="nasbench1shot1", dataset="cifar10", variant="D", mode="oneshot", seed=0,
                              space_options=tuple(sorted({"channels": 4, "layers": 3}.items()))))
    row, trajectory = run_cell(cell, RunContext(sweep="t", benchmark="nasbench101", table_dir=table_dir))
    assert row["status"] == "ok", row.get("error")
    assert row["arch"].endswith("#" + ns.parse_arch_key(row["arch"]).module_hash())
    assert row["params_m"] == pytest.approx(ns.param_count(ns.parse_arch_key(row["arch"]), 10) / 1e6)
    if row["lookup_status"] == "ok":
        assert row["nb101_valid_acc"] > 0
    else:
        assert row["lookup_status"] == "not_in_table" and "PARTIAL NB101 table: 1,030 of 423,624" in row["lookup_error"]
    assert len(trajectory) == 1


def test_softmax_transform_keeps_dead_entries_out():
    torch.manual_seed(0)
    net = ns.build_supernet(TINY, 10, 32, alpha_transform="softmax")
    w = net.mixing_weights("inputs")
    assert (w[~ns.structural_mask()["inputs"]] == 0).all()
    assert torch.allclose(w.sum(dim=1), torch.ones(4))
    assert np.isfinite(net(torch.ones(1, 3, 32, 32)).detach().numpy()).all()
