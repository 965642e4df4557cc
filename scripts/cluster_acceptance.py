"""Acceptance run of issue 5: a 200-cell NB201 sweep on a 3-node local Ray cluster with injected
worker kills, checked against a clean single-node run.

    python scripts/cluster_acceptance.py --cells 200 --kill-once 10 --kill-always 5

1. Starts `ray.cluster_utils.Cluster`: a head (no GPUs) and two worker nodes with 2 logical GPUs
   and 2 CPUs each, and runs `python -m harness.sweep` against it (`--address`), with
   `FREEDARTS_KILL_CELLS` killing the worker of `--kill-once` cells on their first attempt (they
   must succeed on retry) and of `--kill-always` cells on every attempt (they must end `failed`).
2. Runs the same sweep file on an embedded single-node Ray with no faults.
3. Checks: exactly N rows, unique cell ids, failed == the always-killed cells, retried cells ok
   with attempt 2, one GPU id per cell, and the same architecture per cell as the clean run.

Prints the figures and exits non-zero if a check fails. Cells are full-size one-shot FreeDARTS-D
NB201 searches (seeds 0..N-1).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def run_sweep(sweep_file: Path, results: Path, address: str | None = None, env: dict | None = None) -> float:
    cmd = [sys.executable, "-m", "harness.sweep", str(sweep_file), "--results", str(results)]
    if address:
        cmd += ["--address", address]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=200)
    p.add_argument("--kill-once", type=int, default=10)
    p.add_argument("--kill-always", type=int, default=5)
    args = p.parse_args(argv)
    from ray.cluster_utils import Cluster

    work = Path(tempfile.mkdtemp(prefix="cluster-acceptance-"))
    sweep_file = work / "acceptance.yaml"
    sweep_file.write_text(f"name: acceptance\nmax_retries: 1\nsettings:\n  variant: D\n  mode: oneshot\n"
                          f"grid:\n  seed: {list(range(args.cells))}\n")
    ids = subprocess.run([sys.executable, "-m", "harness.sweep", str(sweep_file), "--dry-run"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.splitlines()[: args.cells]
    ids = [line.split()[0] for line in ids]
    once = ids[: args.kill_once]
    always = ids[args.kill_once: args.kill_once + args.kill_always]
    faults = ",".join([f"{c}:1" for c in once] + always)

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=2, num_gpus=2)
    cluster.wait_for_nodes()
    try:
        t_cluster = run_sweep(sweep_file, work / "cluster", cluster.address,
                              {"FREEDARTS_KILL_CELLS": faults, "FREEDARTS_FAULT_DIR": str(work / "faults")})
    finally:
        cluster.shutdown()
    t_clean = run_sweep(sweep_file, work / "clean")

    got = pd.read_parquet(work / "cluster" / "acceptance" / "cells").set_index("cell_id")
    clean = pd.read_parquet(work / "clean" / "acceptance" / "cells").set_index("cell_id")
    ok = got[got.status == "ok"]
    checks = {
        f"exactly {args.cells} rows": len(got) == args.cells,
        "no duplicate cell ids": got.index.is_unique,
        "failed rows == always-killed cells": set(got.index[got.status == "failed"]) == set(always),
        "killed-once cells ok on attempt 2": bool((got.loc[once, "status"] == "ok").all()
                                                  and (got.loc[once, "attempt"] == 2).all()),
        "one GPU id per ok cell": bool(ok.gpu_ids.str.fullmatch(r"\d+").all()),
        "same architectures as the clean single-node run": bool((ok.arch == clean.loc[ok.index, "arch"]).all()),
    }
    print(f"\n3-node cluster: {len(got)} rows ({(got.status == 'ok').sum()} ok, {(got.status == 'failed').sum()} failed) "
          f"in {t_cluster:.1f} s, nodes used: {ok.node_id.nunique()}; clean single-node run: {len(clean)} rows in {t_clean:.1f} s")
    for name, passed in checks.items():
        print(f"  [{'ok' if passed else 'FAIL'}] {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
