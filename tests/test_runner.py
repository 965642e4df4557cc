"""One cell end to end without Ray: real NB201 table (from ../shared/data), real CIFAR-10 images."""

from __future__ import annotations

import pytest

from benchmarks import get_benchmark
from benchmarks.paths import cache_root
from harness.config import CellConfig, resolve
from harness.runner import RunContext, run_cell


@pytest.fixture(scope="module")
def table_dir(data_root):
    table = get_benchmark("nasbench201").resolve_table(data_root, cache_root())
    assert table is not None, "the NB201 table is built from ../shared/data/nasbench201/nats_bench.csv"
    return str(table)


def test_iterative_d_cell_row_and_trajectory(table_dir):
    row, traj = run_cell(resolve(CellConfig(variant="D", seed=0)), RunContext(sweep="t", table_dir=table_dir))
    assert row["status"] == "ok", row.get("error")
    assert row["n_steps"] == 24 and len(traj) == 25
    assert row["lookup_status"] == "ok"
    for m in ("cifar10_test_acc", "cifar100_test_acc", "imagenet16_test_acc"):
        assert 10 < row[m] < 95
    assert 0.07 < row["params_m"] < 1.54
    assert row["search_s"] == pytest.approx(row["data_s"] + row["score_s"])
    assert row["data_source"] == "all-ones" or "ones" in row["data_source"]
    assert row["benchmark_sha256"] and row["device"] == "cpu"
    assert [t["step"] for t in traj] == list(range(25))
    assert traj[-1]["alpha_arch"] == row["arch"]
    assert traj[-1]["cifar10_test_acc"] == row["cifar10_test_acc"]
    assert [t["op"] for t in traj[1:7]] == ["none"] * 6


def test_same_cell_twice_same_architecture(table_dir):
    cell = resolve(CellConfig(variant="D", mode="oneshot", seed=2, dataset="imagenet16-120"))
    a, _ = run_cell(cell, RunContext(sweep="t", table_dir=table_dir))
    b, _ = run_cell(cell, RunContext(sweep="t", table_dir=table_dir))
    assert a["arch"] == b["arch"] and a["params_m"] == b["params_m"]


def test_labelled_oneshot_on_real_cifar10_images(table_dir):
    row, traj = run_cell(resolve(CellConfig(variant="labels", mode="oneshot", seed=0)),
                         RunContext(sweep="t", table_dir=table_dir))
    assert row["status"] == "ok", row.get("error")
    assert "cifar10_real5000.npz" in row["data_source"]
    assert len(traj) == 1 and row["n_steps"] == 0


@pytest.mark.parametrize("dataset, needle", [("cifar100", "cifar100 training images not found"),
                                             ("imagenet16-120", "imagenet16-120 training images not found")])
def test_missing_images_are_no_data_and_say_where_relative_to_the_data_root(table_dir, dataset, needle, data_root):
    row, traj = run_cell(resolve(CellConfig(variant="random_labels", dataset=dataset)),
                         RunContext(sweep="t", table_dir=table_dir))
    assert row["status"] == "no_data" and traj == []  # missing input data, not an error
    assert row["error"].startswith("DataNotFoundError: " + needle)
    assert "looked in: $HARNESS_DATA/" in row["error"] and row.get("arch") is None
    assert str(data_root) not in row["error"]  # no path of the machine that ran it


def test_no_table_still_searches():
    row, traj = run_cell(resolve(CellConfig(variant="D", mode="oneshot")), RunContext(sweep="t", table_dir=None))
    assert row["status"] == "ok" and row["lookup_status"] == "no_table"
    assert row["arch"] and row.get("cifar10_test_acc") is None


def test_nan_scores_fail_the_cell_without_an_architecture(table_dir):
    row, traj = run_cell(resolve(CellConfig(variant="D", alpha_scale=1e30)), RunContext(sweep="t", table_dir=table_dir))
    assert row["status"] == "failed" and row.get("arch") is None and traj == []
    assert row["error"].startswith("NonFiniteScoreError: ") and "alpha_scale" in row["error"]


def test_arch_missing_from_table_is_recorded(tmp_path, table_dir):
    import pandas as pd

    from benchmarks import nasbench201

    src = tmp_path / "nats_bench.csv"
    full = pd.read_csv(__import__("os").environ["HARNESS_DATA"] + "/nasbench201/nats_bench.csv")
    full.head(10).to_csv(src, index=False)
    small = nasbench201.convert(src, tmp_path / "small")
    row, _ = run_cell(resolve(CellConfig(variant="D", mode="oneshot")), RunContext(sweep="t", table_dir=str(small)))
    assert row["status"] == "ok" and row["lookup_status"] == "not_in_table"
    assert row["arch"] in row["lookup_error"]


def test_a_finished_cell_gives_memory_back_only_after_the_worker_grew(monkeypatch):
    """malloc_trim after a cell that grew the worker by GBs (a labelled batch-64 pass), not after a small
    search: a trim also unmaps the pages the next small search reuses, which it then faults in again."""
    from harness import runner

    resident, trims = [400 * 2**20], []

    class Libc:
        def malloc_trim(self, pad):
            trims.append(pad)
            resident[0] = 420 * 2**20  # what the trim gave back

    monkeypatch.setattr(runner, "_glibc", lambda: Libc())
    monkeypatch.setattr(runner, "_resident_bytes", lambda: resident[0])
    monkeypatch.setattr(runner, "_resident_after_trim", 0)
    runner._release_memory()  # the worker's first cell: trimmed, baseline set
    assert len(trims) == 1
    resident[0] += 30 * 2**20  # a FreeDARTS-D search: no trim
    runner._release_memory()
    assert len(trims) == 1
    resident[0] += 2500 * 2**20  # a labelled pass: trimmed
    runner._release_memory()
    assert len(trims) == 2 and runner._resident_after_trim == 420 * 2**20
