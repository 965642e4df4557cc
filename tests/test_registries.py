"""One registry shape for spaces, benchmarks, methods and proxies (docs/ARCHITECTURE.md).

Each is a dict by name with `list_x()` / `get_x(name)`; an unknown name raises
`archcodec.registry.UnknownNameError` (a ValueError) naming the input, every valid name and the
closest one; a name registered twice fails when the registry is built.
"""

from __future__ import annotations

import pytest

import benchmarks
import harness.methods
import harness.proxies
import spaces
from archcodec import registry
from harness import errors
from harness.config import parse

# (kind in messages, registry dict, list_x, get_x, a near-miss name, the name it should suggest)
REGISTRIES = {
    "search space": (spaces.SPACES, spaces.list_spaces, spaces.get_space, "darst", "darts"),
    "benchmark": (benchmarks.BENCHMARKS, benchmarks.list_benchmarks, benchmarks.get_benchmark,
                  "nasbench210", "nasbench201"),
    "method": (harness.methods.METHODS, harness.methods.list_methods, harness.methods.get_method,
               "zero-cost", "zero_cost"),
    "proxy": (harness.proxies.PROXIES, harness.proxies.list_proxies, harness.proxies.get_proxy, "synflw", "synflow"),
}


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_every_registry_has_the_same_shape(kind):
    table, list_x, get_x, _, _ = REGISTRIES[kind]
    assert list_x() == sorted(table) and list_x()
    for name in list_x():
        spec = get_x(name)
        assert spec is table[name] and spec.name == name  # the key is the spec's own name


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_an_unknown_name_names_the_valid_ones_and_the_closest(kind):
    _, list_x, get_x, near, suggestion = REGISTRIES[kind]
    with pytest.raises(registry.UnknownNameError) as err:
        get_x(near)
    assert isinstance(err.value, ValueError)
    assert str(err.value) == (f"unknown {kind} {near!r} (did you mean {suggestion!r}?); "
                              f"valid: {', '.join(list_x())}")
    assert (err.value.kind, err.value.name, err.value.choices) == (kind, near, list_x())
    with pytest.raises(registry.UnknownNameError, match=r"unknown .*\['a list'\]; valid"):
        get_x(["a list"])  # an unhashable YAML value is an unknown name too, not a TypeError


def test_a_name_registered_twice_fails_when_the_registry_is_built():
    spec = spaces.get_space("nasbench201")
    with pytest.raises(ValueError, match="search space 'nasbench201' is registered twice"):
        registry.build([spec, spec], "search space")
    proxy = harness.proxies.get_proxy("synflow")
    with pytest.raises(ValueError, match="proxy 'synflow' is registered twice"):
        harness.proxies.register(proxy)
    assert harness.proxies.get_proxy("synflow") is proxy


def test_the_harness_error_is_the_registry_error_with_a_file_and_key():
    err = errors.UnknownNameError("variant", "DD", ["D", "labels"], where="x.yaml:grid.variant")
    assert isinstance(err, registry.UnknownNameError) and isinstance(err, errors.ConfigError)
    assert str(err) == "x.yaml:grid.variant: unknown variant 'DD' (did you mean 'D'?); valid: D, labels"


def test_an_unknown_proxy_in_a_sweep_file_fails_at_load_with_file_and_key():
    with pytest.raises(errors.UnknownNameError, match=r"^s.yaml:grid: unknown proxy 'jacob'; valid: "):
        parse({"name": "x", "settings": {"method": "zero_cost"}, "grid": {"proxy": ["jacob"]}}, "s.yaml")


def test_a_benchmark_that_does_not_answer_a_space_fails_at_load_with_file_and_key():
    with pytest.raises(errors.ConfigError,
                       match=r"^s.yaml:benchmark: benchmark 'nasbench201' does not answer space 'darts' "
                             r"\(it answers nasbench201\); set benchmark: to .*yahpo_nb301 or none$"):
        parse({"name": "x", "benchmark": "nasbench201", "grid": {"space": ["darts"], "dataset": ["cifar10"]}}, "s.yaml")
    assert parse({"name": "x", "benchmark": "none", "grid": {"space": ["darts"], "dataset": ["cifar10"]}}, "s.yaml").cells


def test_every_committed_sweep_file_loads():
    from pathlib import Path

    from harness.config import load

    sweeps = sorted((Path(__file__).resolve().parents[1] / "sweeps").glob("*.yaml"))
    assert sweeps
    for f in sweeps:
        assert load(f).cells, f
