"""Adding a space and a benchmark takes one module each plus one registry line each (issue 11).

`tests/toy/toy_space.py` and `tests/toy/toy_bench.py` are written as a user would write them; a
fresh interpreter registers them with one line each (no other file of the project changes), then
runs a sweep file end to end on the in-process path the Ray trainable wraps (`load` -> `make_context`
-> `pending` -> `run_cell` -> `store.write_cell`). The results table gains the toy benchmark's
declared columns because the store derives its schema from the registry; a second pass resumes
(runs nothing).
Ray itself is exercised by tests/test_sweep.py; its workers import the registries afresh, so a
toy registered only inside a test could not reach them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
TOY = Path(__file__).resolve().parent / "toy"

DRIVER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    import benchmarks, spaces, toy_bench, toy_space
    spaces.SPACES[toy_space.NAME] = toy_space.SPEC              # the space's one registry line
    benchmarks.BENCHMARKS[toy_bench.NAME] = toy_bench.SPEC      # the benchmark's one registry line
    from harness import store
    from harness.config import load
    from harness.runner import run_cell
    from harness.sweep import make_context, pending
    sweep = load(sys.argv[2])
    results = Path(sys.argv[3]) / sweep.name
    ran = []
    for attempt in range(2):  # the second pass must find every row and run nothing (resume)
        todo = pending(list(sweep.cells), store.cell_statuses(results), False, False)
        ctx = make_context(sweep)
        for cell in todo:
            row, trajectory = run_cell(cell, ctx)
            store.write_cell(results, row, trajectory)
        ran.append(len(todo))
    print(json.dumps({"ran": ran, "columns": list(store.CELL_COLUMNS)}))
""")
SWEEP = textwrap.dedent("""
    name: toy
    benchmark: toy_bench
    settings:
      space: toy_chain
      variant: D
      space_options: {channels: 4, layers: 2}
    grid:
      mode: [iterative, oneshot]
      seed: [0, 1]
""")


def _run(tmp_path: Path) -> dict:
    (tmp_path / "toy.yaml").write_text(SWEEP)
    out = subprocess.run([sys.executable, "-c", DRIVER, str(TOY), str(tmp_path / "toy.yaml"), str(tmp_path / "results")],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_toy_space_and_benchmark_run_a_sweep_end_to_end(tmp_path):
    sys.path.insert(0, str(TOY))
    try:
        import toy_bench
    finally:
        sys.path.remove(str(TOY))
    first = _run(tmp_path)
    assert first["ran"] == [4, 0]  # four cells, then a rerun that resumes with nothing to do
    assert {"toy_acc", "toy_n_conv"} <= set(first["columns"])  # the store's schema derives from the registry
    cells = pd.read_parquet(tmp_path / "results" / "toy" / "cells")  # plain pandas, no project import
    assert len(cells) == 4 and set(cells.status) == {"ok"}, cells.get("error")
    assert set(cells.lookup_status) == {"ok"} and set(cells.benchmark) == {"toy_bench"}
    for row in cells.itertuples():
        assert row.toy_acc == toy_bench.accuracy(row.arch)
        assert row.toy_n_conv == sum(op != "skip" for op in row.arch.split("|"))
        assert row.n_steps == (4 if row.mode == "iterative" else 0)  # 6 ops, one kept per layer
    traj = pd.read_parquet(tmp_path / "results" / "toy" / "trajectory")
    assert set(traj.cell_id) == set(cells.cell_id)
