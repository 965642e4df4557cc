"""Issue 10: faults and hostile files, the checks that need no Ray (seconds each).

Items (numbers of the issue): 1 leftover temp files, 2 unreadable part files (quarantine, page
checksums), 4 the results-folder lock, 6 planning a big grid, 7 a directory as the sweep file,
8 typed `--only`, 9 an unreachable `--address`, 12 stale temporary folders, 13 statuses and exit
codes (old rows upgraded). Item 5 (corrupt tables, worker copies) is in test_faults_tables.py,
10 (no code from data files) in test_safe_loading.py, 3 (the interrupt handler) in test_interrupts.py,
3, 11, 15 (interrupts of real runs, the embedded Ray) in test_faults_ray.py, 14 (a real `ray start --head`) in test_cluster_head.py.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import types
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from harness import store
from harness.config import CellConfig, load, parse, resolve
from harness.errors import ConfigError
from harness.interrupts import Signals
from harness.lock import ResultsLock, ResultsLockedError
from harness.sweep import clean_tune_dirs, pending, select, write_config

REPO = Path(__file__).resolve().parents[1]
SWEEP = "name: f\nbenchmark: none\nsettings:\n  mode: oneshot\ngrid:\n  seed: [0, 1, 2]\n"


def cli(args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "harness.sweep", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300, **kw)


def row(cell_id, status="ok", **kw):
    return {"cell_id": cell_id, "sweep": "f", "space": "nasbench201", "dataset": "cifar10", "variant": "D",
            "mode": "oneshot", "seed": 0, "alpha_scale": 1e-3, "status": status,
            "started_at": datetime.now(timezone.utc), **kw}


@pytest.fixture
def seeded(tmp_path):
    """A sweep file of 3 cells whose results folder already has an ok row for each (so the CLI
    has nothing to run and starts no Ray)."""
    f = tmp_path / "f.yaml"
    f.write_text(SWEEP)
    ids = [c.cell_id for c in load(f).cells]
    results = tmp_path / "r"
    for i, cell_id in enumerate(ids):
        store.write_cell(results / "f", row(cell_id, seed=i, cifar10_test_acc=90.0 + i),
                         [{"cell_id": cell_id, "step": 0, "alpha_arch": "x"}])
    return f, results, ids


def one_line(text: str) -> bool:
    return text.strip() != "" and "\n" not in text.strip()


# -- 1: leftover temporary files ------------------------------------------------------------------------
def test_temp_names_never_match_the_part_pattern(tmp_path, monkeypatch):
    seen = []
    real = pq.write_table

    def spy(table, where, **kw):
        seen.append(Path(where).name)
        assert kw.get("write_page_checksum") is True
        return real(table, where, **kw)

    monkeypatch.setattr(pq, "write_table", spy)
    store.write_cell(tmp_path, row("a"), [{"cell_id": "a", "step": 0}])
    assert seen and all(n.startswith(".tmp-") and not n.endswith(".parquet") for n in seen)
    assert [p.name for p in store.part_files(tmp_path / "cells")] == ["a.parquet"]


def test_leftovers_are_ignored_by_readers_and_removed_by_the_next_run(seeded):
    f, results, ids = seeded
    for sub in ("cells", "trajectory"):
        (results / "f" / sub / ".tmp-abc.parquet").write_bytes(b"PAR1 half a file")  # the old temp name
        (results / "f" / sub / ".tmp-def.partial").write_bytes(b"PAR1")
    (results / "f" / ".tmp-config-x.partial").write_text("half")
    assert sorted(store.cell_statuses(results / "f")) == sorted(ids)
    assert len(store.read_cells(results / "f")) == 3 and len(store.read_trajectory(results / "f")) == 3
    dry = cli([f, "--dry-run", "--results", results])
    assert dry.returncode == 0 and dry.stdout.count(" ok ") == 3, dry.stderr
    res = cli([f, "--results", results])
    assert res.returncode == 0 and "0 to run" in res.stderr, res.stderr
    assert not list((results / "f").rglob(".tmp-*"))


def test_report_reads_a_folder_with_leftovers(seeded):
    from harness.report import report

    _, results, _ = seeded
    (results / "f" / "cells" / ".tmp-x.parquet").write_bytes(b"junk")
    report(results / "f")
    assert (results / "f" / "report" / "report.md").read_text().count("3 cells: 3 ok") == 1


# -- 2: unreadable part files ----------------------------------------------------------------------------
def test_truncated_part_file_is_quarantined_with_one_warning_and_runs_again(seeded, caplog):
    f, results, ids = seeded
    bad = results / "f" / "cells" / f"{ids[1]}.parquet"
    bad.write_bytes(bad.read_bytes()[:200])
    with caplog.at_level(logging.WARNING, logger="harness.store"):
        statuses = store.cell_statuses(results / "f")
    assert sorted(statuses) == sorted([ids[0], ids[2]])  # the cell counts as missing
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and bad.name in warnings[0].getMessage() and "quarantine" in warnings[0].getMessage()
    moved = list((results / "f" / "quarantine" / "cells").iterdir())
    assert len(moved) == 1 and moved[0].name.startswith(ids[1]) and not moved[0].name.endswith(".parquet")
    assert ids[1] in (results / "f" / "quarantine" / "quarantine.log").read_text()
    assert pending(load(f).cells, statuses, retry_failed=False) == [c for c in load(f).cells if c.cell_id == ids[1]]


def test_dry_run_and_report_survive_a_truncated_file(seeded):
    from harness.report import report

    f, results, ids = seeded
    bad = results / "f" / "cells" / f"{ids[0]}.parquet"
    bad.write_bytes(bad.read_bytes()[:-50])
    dry = cli([f, "--dry-run", "--results", results])
    assert dry.returncode == 0, dry.stderr
    assert f"{ids[0]}  todo" in dry.stdout and "1 to run" in dry.stdout
    warning = [ln for ln in dry.stderr.splitlines() if ln.strip()]
    assert len(warning) == 1 and "quarantined" in warning[0] and "Traceback" not in dry.stderr
    bad2 = results / "f" / "cells" / f"{ids[1]}.parquet"
    bad2.write_bytes(b"not parquet at all")
    report(results / "f")  # reads the rest
    assert "1 cells: 1 ok" in (results / "f" / "report" / "report.md").read_text()


def test_unreadable_trajectory_quarantines_its_whole_cell(seeded):
    _, results, ids = seeded
    (results / "f" / "trajectory" / f"{ids[2]}.parquet").write_bytes(b"PAR1garbagePAR1")
    traj = store.read_trajectory(results / "f")
    assert sorted(traj.cell_id) == sorted(ids[:2])
    assert ids[2] not in store.cell_statuses(results / "f")  # the cell runs again, whole


def test_a_flipped_bit_never_reads_as_another_value(tmp_path):
    """Page checksums: a flip in a data page fails the read (the file is quarantined); a flip
    elsewhere may leave the file readable, but never with a changed value."""
    store.write_cell(tmp_path, row("abcd", cifar10_test_acc=93.40), [])
    path = tmp_path / "cells" / "abcd.parquet"
    data = path.read_bytes()
    hits = [i for i in range(len(data)) if data.startswith(struct.pack("<d", 93.40), i)]
    assert hits, "the value is stored plainly"
    positions = sorted({p + k for p in hits for k in range(8)} | set(range(4, len(data) - 8, 37)))
    detected = 0
    logging.disable(logging.WARNING)  # one quarantine line per detected flip
    try:
        for pos in positions:
            flipped = bytearray(data)
            flipped[pos] ^= 0x04
            path.write_bytes(bytes(flipped))
            table = store._read_part(tmp_path, path)  # what every reader does
            if table is None:
                detected += 1
                continue
            values = store._conform(table, store.CELL_SCHEMA)
            assert values.column("cifar10_test_acc").to_pylist() == [93.40], pos
            assert values.column("cell_id").to_pylist() == ["abcd"] and values.column("status").to_pylist() == ["ok"]
    finally:
        logging.disable(logging.NOTSET)
    assert detected >= 8  # at least every flip of the stored value itself


# -- 4: one driver per results folder ---------------------------------------------------------------------
def test_lock_names_its_holder_and_a_dead_holder_is_taken_over(tmp_path):
    lock = ResultsLock(tmp_path)
    with lock.acquire():
        with pytest.raises(ResultsLockedError) as err:
            with ResultsLock(tmp_path).acquire():
                pass
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in str(err.value) and "--wait" in str(err.value)
    # A driver killed with SIGKILL leaves its record; the kernel released its flock, so it is taken over.
    (tmp_path / ".lock").write_text('{"pid": 999999999, "host": "elsewhere", "started_at": "then"}')
    with ResultsLock(tmp_path).acquire():
        assert f'"pid": {os.getpid()}' in (tmp_path / ".lock").read_text()


def test_second_driver_exits_3_naming_the_holder_or_waits(seeded):
    f, results, _ = seeded
    with ResultsLock(results / "f").acquire():
        res = cli([f, "--results", results])
        assert res.returncode == 3 and one_line(res.stderr), res.stderr
        assert f"pid {os.getpid()}" in res.stderr and "--wait" in res.stderr
        waiting = subprocess.Popen([sys.executable, "-m", "harness.sweep", str(f), "--results", str(results), "--wait"],
                                   cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = waiting.stderr.readline()
        assert first.startswith("waiting: ") and f"pid {os.getpid()}" in first
        time.sleep(2)
        assert waiting.poll() is None  # still waiting while we hold it
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0 and "0 to run" in err, err


def test_write_config_is_safe_under_concurrency(tmp_path):
    sweep = parse(yaml.safe_load(SWEEP), "f.yaml")
    errors = []

    def worker():
        try:
            for _ in range(10):
                write_config(sweep, tmp_path)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(yaml.safe_load((tmp_path / "config.yaml").read_text())["cells"]) == 3
    assert not list(tmp_path.glob(".tmp-*"))


# -- 6: planning a big grid ---------------------------------------------------------------------------------
def test_fast_planning_gives_the_reference_cells_in_grid_order():
    raw = {"settings": {"space_options": {"channels": 8}},
           "grid": [{"alpha_scale": [1e-3, 1e-2], "seed": [5, 0, 5], "mode": ["oneshot", "iterative"]},
                    {"seed": [1], "variant": ["labels"]}]}
    cells = parse(raw, "x.yaml").cells
    reference = []
    import itertools

    for sub in raw["grid"]:
        for combo in itertools.product(*sub.values()):
            c = resolve(CellConfig(**{**raw["settings"], "space_options": (("channels", 8),),
                                      **dict(zip(sub, combo))}))
            if c.cell_id not in [r.cell_id for r in reference]:
                reference.append(c)
    assert [c.cell_id for c in cells] == [c.cell_id for c in reference]
    assert list(cells) == reference
    fresh = [CellConfig(**{f.name: getattr(c, f.name) for f in dataclasses.fields(CellConfig)}) for c in cells]
    assert [c.cell_id for c in fresh] == [c.cell_id for c in cells]  # the copied id equals a computed one


# -- 7 and 8: bad input ------------------------------------------------------------------------------------
def test_a_directory_as_sweep_file_is_one_error_line(tmp_path):
    res = cli([tmp_path, "--results", tmp_path / "r"])
    assert res.returncode == 2 and one_line(res.stderr) and "is a directory" in res.stderr


def test_only_compares_typed_values():
    cells = parse({"grid": {"alpha_scale": [0.001, 0.01], "augment": [True, False], "seed": [0, 1, 2]}}, "x").cells
    assert {c.alpha_scale for c in select(cells, ["alpha_scale=1e-3"])} == {0.001}
    assert {c.augment for c in select(cells, ["augment=true"])} == {True}
    assert {c.seed for c in select(cells, ["seed=0,2"])} == {0, 2}
    assert len(select(cells, ["alpha_scale=0.01", "augment=False", "seed=1"])) == 1


@pytest.mark.parametrize("only, needle", [
    (["alpha_scale=0.5"], "--only alpha_scale=0.5: matches no cell of x; alpha_scale values there: 0.001, 0.01"),
    (["seed=1", "augment=false"], "among the 2 cells the filters before it keep; augment values there: True"),
    (["sed=1"], "unknown cell field 'sed' (did you mean 'seed'?)"),
    (["seed=one"], "seed must be a non-negative integer"),
])
def test_only_that_matches_nothing_names_the_filter_and_the_values(only, needle):
    cells = parse({"settings": {"augment": True}, "grid": {"alpha_scale": [0.001, 0.01], "seed": [0, 1]}}, "x").cells
    with pytest.raises(ConfigError) as err:
        select(cells, only, "x")
    assert needle in str(err.value) and one_line(str(err.value))


def test_only_matching_nothing_exits_2_from_the_cli(tmp_path):
    f = tmp_path / "f.yaml"
    f.write_text(SWEEP)
    res = cli([f, "--dry-run", "--results", tmp_path / "r", "--only", "seed=7"])
    assert res.returncode == 2 and one_line(res.stderr) and "seed values there: 0, 1, 2" in res.stderr


# -- 9: an unreachable cluster ----------------------------------------------------------------------------
def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_address_is_one_line_within_30_s(tmp_path):
    f = tmp_path / "f.yaml"
    f.write_text(SWEEP)
    t0 = time.monotonic()
    res = cli([f, "--results", tmp_path / "r", "--address", f"127.0.0.1:{_closed_port()}"])
    assert time.monotonic() - t0 < 30
    assert res.returncode == 2 and one_line(res.stderr), res.stderr
    assert "no Ray cluster at 127.0.0.1" in res.stderr and ": connection refused;" in res.stderr


def test_address_auto_with_a_stale_record_or_none_is_one_line(tmp_path):
    f = tmp_path / "f.yaml"
    f.write_text(SWEEP)
    ray_tmp = tmp_path / "raytmp"
    res = cli([f, "--results", tmp_path / "r", "--address", "auto"], env={"RAY_TMPDIR": str(ray_tmp)})
    assert res.returncode == 2 and one_line(res.stderr) and "no Ray cluster is recorded" in res.stderr
    (ray_tmp / "ray").mkdir(parents=True)
    (ray_tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{_closed_port()}")  # a head killed without `ray stop`
    res = cli([f, "--results", tmp_path / "r", "--address", "auto"], env={"RAY_TMPDIR": str(ray_tmp)})
    assert res.returncode == 2 and one_line(res.stderr) and "recorded by `ray start`" in res.stderr


# -- 12: temporary folders of a killed driver ----------------------------------------------------------------
def test_stale_tune_folder_of_this_results_folder_is_removed(seeded, tmp_path):
    f, results, _ = seeded
    import tempfile

    from harness.sweep import _tune_dir_prefix

    stale = Path(tempfile.mkdtemp(prefix=_tune_dir_prefix(results / "f")))
    other = Path(tempfile.mkdtemp(prefix="freedarts-tune-0000000000ff-"))  # another folder's: left alone
    try:
        res = cli([f, "--results", results])
        assert res.returncode == 0, res.stderr
        assert not stale.exists() and other.exists()
        assert clean_tune_dirs(results / "f") == 0
    finally:
        other.rmdir()


# -- 13: statuses and exit codes ------------------------------------------------------------------------------
def test_exit_codes_without_running_anything(seeded):
    f, results, ids = seeded
    assert cli([f, "--results", results]).returncode == 0  # all ok
    store.write_cell(results / "f", row(ids[0], status="no_data", error="DataNotFoundError: no images"), [])
    res = cli([f, "--results", results])
    assert res.returncode == 0 and "1 no_data, 2 ok" in res.stderr  # no_data is not a failure
    store.write_cell(results / "f", row(ids[1], status="failed", error="ValueError: boom"), [])
    res = cli([f, "--results", results])
    assert res.returncode == 1 and "1 failed" in res.stderr
    assert cli([f, "--results", results, "--only", "seed=0,2"]).returncode == 0  # exit codes cover the selection


def test_retry_flags_and_no_data():
    cells = parse(yaml.safe_load(SWEEP), "f.yaml").cells
    statuses = {cells[0].cell_id: "ok", cells[1].cell_id: "failed", cells[2].cell_id: "no_data"}
    assert pending(cells, statuses, retry_failed=False) == []
    assert pending(cells, statuses, retry_failed=True) == [cells[1]]
    assert pending(cells, statuses, retry_failed=False, retry_no_data=True) == [cells[2]]


def test_old_rows_are_upgraded_on_read_and_rewritten_once(tmp_path):
    """Rows from before `no_data` (a failed DataNotFoundError) read as no_data; `upgrade` rewrites
    such files with the current schema, page checksums and the store version."""
    (tmp_path / "cells").mkdir()
    old = pa.table({"cell_id": ["a", "b", "c"], "sweep": ["t"] * 3, "status": ["failed", "failed", "ok"],
                    "error": ["DataNotFoundError: cifar100 training images not found; looked in: x",
                              "NonFiniteScoreError: nan", None]})
    for i, name in enumerate("abc"):
        pq.write_table(old.slice(i, 1), tmp_path / "cells" / f"{name}.parquet")  # no checksums, old schema
    assert store.cell_statuses(tmp_path) == {"a": "no_data", "b": "failed", "c": "ok"}
    assert list(store.read_cells(tmp_path).sort_values("cell_id").status) == ["no_data", "failed", "ok"]
    assert store.upgrade(tmp_path) == 3 and store.upgrade(tmp_path) == 0
    raw = pd.read_parquet(tmp_path / "cells").sort_values("cell_id")  # plain pandas, no project code
    assert list(raw.status) == ["no_data", "failed", "ok"] and list(raw.method) == ["freedarts"] * 3


def test_committed_results_still_read(data_root):
    table3 = REPO / "results" / "table3"
    if not (table3 / "cells").is_dir():
        pytest.skip("no committed table3 results in this checkout")
    cells = store.read_cells(table3)
    # Every part file reads back (rows written before no_data / checksums existed included).
    assert len(cells) == len(store.part_files(table3 / "cells")) >= 90 and cells.cell_id.is_unique
    assert set(cells.status) <= {"ok", "no_data"}
    # no_data = exactly the labelled cells on CIFAR-100 / ImageNet16-120 (no training images here): 8 per seed
    missing = (cells.variant != "D") & (cells.dataset != "cifar10")
    assert (cells.status == "no_data").equals(missing) and missing.sum() == 8 * cells.seed.nunique()


def test_a_pack_tune_gave_up_on_with_retries_left_runs_again_else_gets_a_failed_row(tmp_path):
    """Tune recovers only RUNNING trials: a retry that fails while it starts (placed on a node that
    has just left) ends the trial with retries left. Such a pack goes to the next round; one that
    used its retries gets a `failed` row naming its attempts."""

    from harness.progress import Progress
    from harness.runner import RunContext
    from harness.trials import make_callback

    cells = parse({"grid": {"seed": [0, 1]}}, "x.yaml").cells
    ctx = RunContext(sweep="x", benchmark="none")

    def trial(cell, failures):
        return types.SimpleNamespace(config={"trial": {"pack": cell.cell_id}}, num_failures=failures,
                                      get_error=lambda: "RayActorError: the actor died\n")

    requeue: dict[str, int] = {}
    packs = {c.cell_id: [c] for c in cells}
    cb = make_callback(tmp_path, Progress(2, stream=io.StringIO()), ctx, set(), Signals(), packs, max_retries=3,
                        prior={cells[1].cell_id: 2}, requeue=requeue)
    cb.on_trial_error(0, [], trial(cells[0], 2))  # 2 of 4 attempts used: runs again
    cb.on_trial_error(0, [], trial(cells[1], 2))  # 2 + 2 = 4 attempts: recorded
    assert requeue == {cells[0].cell_id: 2}
    rows = store.read_cells(tmp_path)
    assert rows.cell_id.tolist() == [cells[1].cell_id] and rows.status.tolist() == ["failed"]
    assert "after 4 attempt(s)" in rows.error.iloc[0] and rows.attempt.iloc[0] == 4
