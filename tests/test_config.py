"""Sweep files: strict parsing, helpful errors, grid expansion and stable cell ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import CellConfig, expand, load, parse, resolve
from harness.errors import ConfigError, UnknownNameError

REPO = Path(__file__).resolve().parents[1]


def test_table3_expands_to_180_resolved_cells():
    sweep = load(REPO / "sweeps" / "table3.yaml")
    assert len(sweep.cells) == 6 * 3 * 10  # seeds 0-9 (issue 13: n >= 10 per FreeDARTS row)
    assert {c.dataset for c in sweep.cells} == {"cifar10", "cifar100", "imagenet16-120"}
    assert len({c.cell_id for c in sweep.cells}) == 180
    for c in sweep.cells:
        assert None not in [v for k, v in c.to_dict().items() if k not in ("proxy", "n_samples")]


def test_defaults_follow_space_and_variant():
    d = resolve(CellConfig(variant="D"))
    assert (d.abs_weights, d.abs_alpha, d.batch_size, d.alpha_scale, d.normalization) == (True, True, 1, 1e-3, "nb201")
    lab = resolve(CellConfig(variant="labels"))
    assert (lab.abs_weights, lab.abs_alpha, lab.batch_size) == (False, False, 64)
    assert dict(lab.space_options) == {"channels": 16, "cells_per_stage": 5, "search_conv_bias": True}


def test_cell_id_is_stable_and_ignores_explicit_defaults():
    implicit = resolve(CellConfig(variant="D", seed=3))
    explicit = resolve(CellConfig(variant="D", seed=3, alpha_scale=1e-3, abs_weights=True, batch_size=1,
                                  space_options=(("channels", 16),)))
    assert implicit.cell_id == explicit.cell_id
    assert implicit.cell_id != resolve(CellConfig(variant="D", seed=4)).cell_id
    assert len(implicit.cell_id) == 16
    assert CellConfig.from_dict(implicit.to_dict()) == implicit


def test_unresolved_cell_has_no_id():
    with pytest.raises(ValueError, match="resolve"):
        CellConfig().cell_id


def test_adding_seeds_keeps_old_ids():
    old = {c.cell_id for c in expand({}, {"seed": [0, 1]})}
    new = {c.cell_id for c in expand({}, {"seed": [0, 1, 2]})}
    assert old < new and len(new - old) == 1


@pytest.mark.parametrize("raw, where, needle", [
    ({"name": "x", "gird": {}}, "x.yaml", "unknown key 'gird' (did you mean 'grid'?)"),
    ({"grid": {"varaint": ["D"]}}, "x.yaml:grid", "unknown cell field 'varaint' (did you mean 'variant'?)"),
    ({"grid": {"variant": ["DD"]}}, "x.yaml:grid.variant[0]", "unknown variant 'DD' (did you mean 'D'?); valid: D, labels, random_labels"),
    ({"grid": {"space": ["nb201"]}}, "x.yaml:grid.space[0]", "unknown space 'nb201'"),
    ({"grid": {"dataset": ["imagenet32"]}}, "x.yaml:grid.dataset[0]", "unknown dataset 'imagenet32'"),
    ({"settings": {"mode": "one-shot"}}, "x.yaml:settings.mode", "valid: iterative, oneshot"),
    ({"grid": {"seed": [-1]}}, "x.yaml:grid.seed[0]", "non-negative integer"),
    ({"grid": {"alpha_scale": ["big"]}}, "x.yaml:grid.alpha_scale[0]", "positive number"),
    ({"grid": {"alpha_scale": [0]}}, "x.yaml:grid.alpha_scale[0]", "positive finite"),
    ({"grid": {"seed": 3}}, "x.yaml:grid.seed", "non-empty list"),
    ({"settings": {"seed": 1}, "grid": {"seed": [1, 2]}}, "x.yaml:grid", "both settings and grid"),
    ({"settings": {"space_options": {"chanels": 8}}}, "x.yaml", "unknown nasbench201 space option 'chanels'"),
    ({"benchmark": "nb301"}, "x.yaml:benchmark", "unknown benchmark 'nb301'"),
    ({"settings": {"abs_alpha": "yes"}}, "x.yaml:settings.abs_alpha", "true, false or null"),
    ({"images_dir": {"cifar": "/x"}}, "x.yaml:images_dir", "unknown dataset 'cifar'"),
    ({"max_retries": -1}, "x.yaml:max_retries", "non-negative integer"),
    ({"resources": {"mode": "fast"}}, "x.yaml:resources.mode", "unknown resources mode 'fast'"),
    ({"resources": {"gpus": 1}}, "x.yaml:resources", "unknown resources key 'gpus'"),
    ({"resources": {"mode": "timing", "gpus_per_cell": 0.5}}, "x.yaml:resources.gpus_per_cell", "whole GPU"),
    ({"resources": {"mode": "throughput", "gpus_per_cell": 2}}, "x.yaml:resources.gpus_per_cell", "(0, 1]"),
])
def test_bad_inputs_name_file_key_and_choices(raw, where, needle):
    with pytest.raises(ConfigError) as err:
        parse(raw, "x.yaml")
    msg = str(err.value)
    assert msg.startswith(where + ":"), msg
    assert needle in msg
    assert "\n" not in msg


def test_unknown_name_error_is_a_value_error_with_choices():
    err = UnknownNameError("variant", "x", ["D", "labels"])
    assert isinstance(err, ValueError) and err.choices == ["D", "labels"]


def test_scientific_notation_without_dot_is_accepted():
    sweep = parse({"grid": {"alpha_scale": ["1e-3", 1.0e-4]}}, "x.yaml")
    assert [c.alpha_scale for c in sweep.cells] == [1e-3, 1e-4]


def test_missing_file_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="sweep file not found"):
        load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(bad)


def test_name_defaults_to_file_stem(tmp_path):
    f = tmp_path / "my-sweep.yaml"
    f.write_text("grid:\n  seed: [0]\n")
    assert load(f).name == "my-sweep"


def test_every_shipped_sweep_file_parses():
    for f in sorted((REPO / "sweeps").glob("*.yaml")):
        assert load(f).cells, f


def test_a_list_of_grids_is_the_union_of_their_products():
    sweep = parse({"grid": [{"variant": ["D"], "seed": [0, 1]}, {"variant": ["labels", "D"], "seed": [0]}]}, "x.yaml")
    assert [(c.variant, c.seed) for c in sweep.cells] == [("D", 0), ("D", 1), ("labels", 0)]
    with pytest.raises(ConfigError, match=r"x.yaml:grid\[1\].variant\[0\]: unknown variant"):
        parse({"grid": [{"seed": [0]}, {"variant": ["X"]}]}, "x.yaml")


def test_resources_per_cell():
    timing = parse({}, "x.yaml").resources
    assert timing.ray_resources(cluster_has_gpus=True) == {"cpu": 1, "gpu": 1.0}
    assert timing.ray_resources(cluster_has_gpus=False) == {"cpu": 1}
    packed = parse({"resources": {"mode": "throughput", "gpus_per_cell": 0.25, "cpus_per_cell": 2}}, "x.yaml").resources
    assert packed.ray_resources(cluster_has_gpus=True) == {"cpu": 2, "gpu": 0.25}


def test_fields_added_later_keep_old_cell_ids_at_their_neutral_value():
    # The id of this cell was fixed before `method`/`proxy`/`n_samples` existed (results/table3).
    cell = resolve(CellConfig(dataset="cifar10", variant="D", mode="iterative", seed=0))
    assert cell.cell_id == "05cf3e647a874d1d"
    other = resolve(CellConfig(dataset="cifar10", variant="D", mode="iterative", seed=0, method="zero_cost", n_samples=10))
    assert other.cell_id != cell.cell_id


def test_a_method_on_a_space_it_does_not_support_fails_at_load():
    from harness.config import parse

    with pytest.raises(ConfigError, match=r"<t>:method: method 'zero_cost' .*mobilenet"):
        parse({"name": "x", "benchmark": "none", "settings": {"space": "mobilenet", "dataset": "imagenet", "method": "zero_cost"},
               "grid": {"seed": [0]}}, "<t>")


def test_a_cell_crosses_to_a_worker_as_the_typed_object_the_driver_resolved():
    """The trial config holds the resolved CellConfigs themselves: what reaches the worker is a copy of
    the object with its cell_id and space options object already set (not hashed or parsed again)."""
    import copy

    from harness import packing

    cell = resolve(CellConfig(space="darts", variant="D", space_options=(("preset", "cifar20"),)))
    assert cell.typed_options is cell.typed_options and cell.typed_options.layers == 20  # resolve's own object
    cell_id = cell.cell_id
    config = packing.trial_config([cell])
    assert config["pack"] == cell_id and json.loads(json.dumps(config["pack"])) == cell_id  # the name is plain text
    (back,) = copy.deepcopy(config)["cells"]  # the object's state as Ray ships it (__reduce_ex__, as pickling does)
    assert back == cell and back.__dict__["cell_id"] == cell_id  # not hashed again on the worker
    assert back.__dict__["typed_options"] == cell.typed_options  # not parsed again either


@pytest.mark.parametrize("settings, match", [
    ({"method": "freedarts", "proxy": "synflow"}, "method 'freedarts' takes no proxy"),
    ({"method": "freedarts", "n_samples": 10}, "method 'freedarts' takes no n_samples"),
    ({"method": "random", "n_samples": 5}, "method 'random' draws one architecture per cell"),
])
def test_a_setting_the_method_does_not_take_fails_at_load(settings, match):
    # Accepted before, such a setting changed the cell id and nothing else (or failed in every worker).
    with pytest.raises(ConfigError, match=match) as info:
        parse({"settings": settings}, "x.yaml")
    assert str(info.value).startswith("x.yaml:")


@pytest.mark.parametrize("settings, grid, needle", [
    ({"method": "random"}, {"alpha_scale": [1e-3, 1e-2]}, "method 'random' does not read alpha_scale=0.01"),
    ({"method": "most_params"}, {"variant": ["labels"]}, "method 'most_params' does not read variant='labels'"),
    ({"method": "zero_cost", "n_samples": 10}, {"mode": ["oneshot"]}, "does not read mode='oneshot'"),
    ({"method": "zero_cost_pt"}, {"tie_break": ["random"]}, "does not read tie_break='random'"),
])
def test_a_search_setting_the_method_does_not_read_fails_at_load(settings, grid, needle):
    # Accepted before: one search ran under several cell ids and the report counted it as several seeds.
    with pytest.raises(ConfigError) as info:
        parse({"settings": settings, "grid": grid}, "x.yaml")
    assert str(info.value).startswith("x.yaml:grid") and needle in str(info.value)
    assert "(the search settings it reads:" in str(info.value)


def test_a_method_may_hold_the_defaults_of_settings_it_does_not_read_and_resolve_is_idempotent():
    from harness.cell import SEARCH_SETTINGS
    from harness.methods import METHODS

    # Written explicitly at their default (as sweeps/table2.yaml's shared `mode: iterative`): accepted, same id.
    explicit = parse({"settings": {"method": "random", "mode": "iterative", "variant": "D", "alpha_scale": 1e-3,
                                   "abs_weights": True}}, "x.yaml").cells[0]
    assert explicit.cell_id == parse({"settings": {"method": "random"}}, "x.yaml").cells[0].cell_id
    # What a baseline does read may vary (zero_cost scores the variant's batch).
    cells = parse({"settings": {"method": "zero_cost", "proxy": "snip", "n_samples": 10},
                   "grid": {"variant": ["labels"], "batch_size": [32, 64]}}, "x.yaml").cells
    assert len({c.cell_id for c in cells}) == 2
    for name, spec in METHODS.items():
        assert spec.reads is None or set(spec.reads) <= set(SEARCH_SETTINGS), name
        cell = resolve(CellConfig(method=name))
        assert resolve(cell) == cell and resolve(cell).cell_id == cell.cell_id
