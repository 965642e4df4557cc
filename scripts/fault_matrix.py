"""Run the faults of issue 10 as a user meets them, and print what happened to the rows.

    HARNESS_DATA=../shared/data python scripts/fault_matrix.py            # ~15-25 min on 2 busy cores
    python scripts/fault_matrix.py --only sigint-mid-sweep --only truncated-part-file
    python scripts/fault_matrix.py --cluster      # also: a real `ray start --head` with token auth

Every fault runs the real CLI (`python -m harness.sweep`, `python -m harness.report`) in a
subprocess on a fresh results folder: real SIGINT / SIGTERM / SIGKILL, crafted files, a second
driver, a dead cluster address. After the fault, the same command is re-run where a user would,
and the rows are counted with plain pandas against the sweep's cells:

    lost        cells of the sweep without a row after the (re-)run
    duplicated  rows beyond one per cell (cells) or per (cell, step) (trajectory)
    exit        exit code(s): the faulty run, then the re-run (-> separates them)

It prints one markdown table (fault | outcome | lost | duplicated | exit) and exits 1 if any fault
lost or duplicated a row or ended other than expected.
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.config import load  # noqa: E402

from _fault_case import TINY, Case, Result, one_line as _one_line, session_left as _session_left  # noqa: E402


# -- the faults -------------------------------------------------------------------------------------------
def sigkill_mid_sweep(root: Path) -> Result:
    c = Case(root)
    proc = c.start()
    c.wait_rows(random.randint(1, 4), proc)
    proc.send_signal(signal.SIGKILL)  # the driver only, as `kill -9 PID`
    proc.wait()
    t0 = time.monotonic()
    # Nothing of ours runs after SIGKILL: Ray's own processes notice and exit (its dashboard and
    # runtime-env agents poll the dead raylet for up to about a minute).
    left = _session_left(proc.pid, timeout_s=120)
    gone_s = time.monotonic() - t0
    again = c.run()
    lost, dup = c.count()
    return Result("SIGKILL of the driver mid-sweep", f"Ray's processes gone {gone_s:.0f} s later ({left} left); "
                  "re-run finished the rest", lost, dup, f"-9 -> {again.returncode}",
                  again.returncode == 0 and left == 0)


def leftover_temp_files(root: Path) -> Result:
    c = Case(root)
    c.run()
    for sub in ("cells", "trajectory"):  # what a kill inside a part-file write leaves (old and new names)
        (c.folder / sub / ".tmp-k1.parquet").write_bytes(b"PAR1 half")
        (c.folder / sub / ".tmp-k2.partial").write_bytes(b"PAR1")
    dry = c.run("--dry-run")
    report = subprocess.run([sys.executable, "-m", "harness.report", str(c.folder)], cwd=REPO, capture_output=True,
                            text=True, env=c.env)
    again = c.run()
    left = list(c.folder.rglob(".tmp-*"))
    lost, dup = c.count()
    return Result("temp files of a kill inside a part-file write", f"dry-run, report and re-run read past them; "
                  f"{len(left)} left after the re-run", lost, dup,
                  f"dry {dry.returncode}, report {report.returncode}, run {again.returncode}",
                  dry.returncode == report.returncode == again.returncode == 0 and not left)


def truncated_part_file(root: Path) -> Result:
    c = Case(root)
    c.run()
    victim = sorted((c.folder / "cells").glob("*.parquet"))[2]
    victim.write_bytes(victim.read_bytes()[:300])
    again = c.run()
    q = list((c.folder / "quarantine" / "cells").glob("*")) if (c.folder / "quarantine").exists() else []
    lost, dup = c.count()
    warn = sum("quarantined" in ln for ln in again.stderr.splitlines())
    return Result("truncated part file in cells/", f"{len(q)} quarantined ({warn} warning line), its cell ran again",
                  lost, dup, f"{again.returncode}", again.returncode == 0 and len(q) == 1 and warn == 1)


def flipped_byte(root: Path) -> Result:
    c = Case(root)
    c.run()
    victim = sorted((c.folder / "cells").glob("*.parquet"))[1]
    cells = pd.read_parquet(victim)
    data = bytearray(victim.read_bytes())
    import struct

    value = float(cells.params_m.iloc[0])
    pos = bytes(data).find(struct.pack("<d", value))  # the value's bytes in its data page
    data[pos + 6] ^= 0x01
    victim.write_bytes(bytes(data))
    again = c.run()
    q = len(list((c.folder / "quarantine" / "cells").glob("*"))) if (c.folder / "quarantine").exists() else 0
    lost, dup = c.count()
    return Result("one flipped bit in a stored value", f"page checksum failed: {q} quarantined, cell ran again",
                  lost, dup, f"{again.returncode}", again.returncode == 0 and q == 1)


def _interrupt(root: Path, sig: int, name: str) -> Result:
    c = Case(root)
    proc = c.start()
    c.wait_rows(2, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    line = next((ln for ln in err.splitlines() if ln.startswith("interrupted:")), "")
    left = _session_left(proc.pid)
    again = c.run()
    lost, dup = c.count()
    clean = "Traceback" not in err and bool(re.match(r"interrupted: \d+ of 8 cells have rows", line))
    return Result(f"{name} mid-sweep", f"'{line[:48]}...'; {left} Ray processes left; re-run finished",
                  lost, dup, f"{proc.returncode} -> {again.returncode}",
                  proc.returncode == 130 and again.returncode == 0 and clean and left == 0)


def sigint_mid_sweep(root: Path) -> Result:
    return _interrupt(root, signal.SIGINT, "Ctrl-C (SIGINT)")


def sigterm_mid_sweep(root: Path) -> Result:
    return _interrupt(root, signal.SIGTERM, "SIGTERM")


def sigint_at_ray_start(root: Path) -> Result:
    c = Case(root)
    proc = subprocess.Popen(c.cmd(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=c.env, start_new_session=True)
    line = ""
    while "to run" not in line and proc.poll() is None:
        line = proc.stderr.readline()
    time.sleep(0.5)  # Ray is starting
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    left = _session_left(proc.pid)
    again = c.run()
    lost, dup = c.count()
    return Result("Ctrl-C during Ray start-up", f"no traceback: {'Traceback' not in err}; {left} Ray processes left",
                  lost, dup, f"{proc.returncode} -> {again.returncode}",
                  proc.returncode == 130 and "Traceback" not in err and left == 0 and again.returncode == 0)


def second_driver(root: Path) -> Result:
    c = Case(root)
    first = c.start()
    c.wait_rows(1, first)
    second = c.run()
    _, _ = first.communicate(timeout=900)
    lost, dup = c.count()
    named = f"pid {first.pid}" in second.stderr
    return Result("a second driver on the same results folder", f"refused, naming the holder: {named}",
                  lost, dup, f"2nd {second.returncode}, 1st {first.returncode}",
                  second.returncode == 3 and named and first.returncode == 0)


def stale_lock(root: Path) -> Result:
    c = Case(root)
    proc = c.start()
    c.wait_rows(1, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # driver and its Ray: the lock record stays behind
    proc.wait()
    record = (c.folder / ".lock").read_text()
    again = c.run()
    lost, dup = c.count()
    return Result("lock left by a SIGKILLed driver", f"taken over (record was pid {str(proc.pid) in record})",
                  lost, dup, f"-9 -> {again.returncode}", again.returncode == 0)


def _table_case(root: Path, with_source: bool) -> tuple[Case, subprocess.CompletedProcess]:
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=root))
    c = Case(root, env={"HARNESS_CACHE": str(cache)})
    c.run("--only", "seed=0")
    c.before = set(pd.read_parquet(c.folder / "cells").cell_id)
    table = cache / "nasbench201" / "table.parquet"
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 0xFF
    table.write_bytes(bytes(data))
    env = {} if with_source else {"HARNESS_DATA": str(Path(tempfile.mkdtemp(prefix="nodata-", dir=root)))}
    return c, c.run(env=env)


def corrupt_table_rebuilt(root: Path) -> Result:
    c, res = _table_case(root, with_source=True)
    lost, dup = c.count()
    return Result("corrupt converted table in the cache", "rebuilt from the raw source on the driver (one note)",
                  lost, dup, f"{res.returncode}", res.returncode == 0 and "was corrupt" in res.stderr)


def corrupt_table_no_source(root: Path) -> Result:
    c, res = _table_case(root, with_source=False)
    lost, dup = c.count(expected=c.before)  # nothing may run; the rows that were there stay
    return Result("corrupt cached table, no raw source", "one error line with the rebuild command; nothing ran",
                  lost, dup, f"{res.returncode}",
                  res.returncode == 2 and _one_line(res.stderr) and "benchmarks convert" in res.stderr)


def bad_inputs(root: Path) -> list[Result]:
    c = Case(root)
    out = []
    res = subprocess.run([sys.executable, "-m", "harness.sweep", str(c.dir), "--results", str(c.results)], cwd=REPO,
                         capture_output=True, text=True, env=c.env)
    out.append(Result("a directory given as the sweep file", res.stderr.strip()[:60], 0, 0, f"{res.returncode}",
                      res.returncode == 2 and _one_line(res.stderr)))
    res = c.run("--only", "alpha_scale=0.5")
    out.append(Result("--only matching no cell", res.stderr.strip()[7:70], 0, 0, f"{res.returncode}",
                      res.returncode == 2 and _one_line(res.stderr) and "values there" in res.stderr))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.monotonic()
    res = c.run("--address", f"127.0.0.1:{port}")
    took = time.monotonic() - t0
    out.append(Result("--address of a closed port", f"one error line after {took:.0f} s (command start incl.)", 0, 0,
                      f"{res.returncode}", res.returncode == 2 and _one_line(res.stderr) and took < 30))
    return out


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def crafted_cifar_batch(root: Path) -> Result:
    data_root = Path(tempfile.mkdtemp(prefix="data-", dir=root))
    os.symlink(Path(os.environ["HARNESS_DATA"]).resolve() / "nasbench201", data_root / "nasbench201")
    marker = data_root / "PWNED"
    (data_root / "cifar-10-batches-py").mkdir()
    (data_root / "cifar-10-batches-py" / "data_batch_1").write_bytes(
        pickle.dumps({b"data": _Payload(marker), b"labels": [0]}, protocol=2))
    c = Case(root, sweep="name: m\n" + TINY + "grid:\n  variant: [D, labels]\n  mode: [oneshot]\n  seed: [0]\n",
             env={"HARNESS_DATA": str(data_root)})
    res = c.run()
    rows = pd.read_parquet(c.folder / "cells")
    err = str(rows[rows.variant == "labels"].error.iloc[0])
    lost, dup = c.count()
    return Result("crafted CIFAR batch with a pickle payload", f"payload ran: {marker.exists()}; "
                  f"labelled cell failed: {err[:40]}...", lost, dup, f"{res.returncode}",
                  not marker.exists() and res.returncode == 1 and "refusing to unpickle" in err)


def crafted_nb201_pth(root: Path) -> Result:
    import torch

    data_root = Path(tempfile.mkdtemp(prefix="data-", dir=root))
    marker = data_root / "PWNED"
    torch.save({"meta_archs": [_Payload(marker)]}, data_root / "NAS-Bench-201-v1_1-096897.pth")
    c = Case(root, env={"HARNESS_DATA": str(data_root), "HARNESS_CACHE": str(data_root / "cache")})
    res = c.run()
    return Result("crafted NAS-Bench-201-v1_1-096897.pth in the data root", f"payload ran: {marker.exists()}; "
                  "refused in one line", 0, 0, f"{res.returncode}",
                  not marker.exists() and res.returncode == 2 and _one_line(res.stderr))


def worker_deaths(root: Path) -> Result:
    c = Case(root)
    ids = [x.cell_id for x in load(c.file).cells]
    fault_dir = Path(tempfile.mkdtemp(prefix="faults-", dir=root))
    res = c.run(env={"FREEDARTS_KILL_CELLS": f"{ids[0]}:1,{ids[1]}", "FREEDARTS_FAULT_DIR": str(fault_dir)})
    rows = pd.read_parquet(c.folder / "cells").set_index("cell_id")
    lost, dup = c.count()
    return Result("worker SIGKILLed once / on every attempt", f"retried -> {rows.loc[ids[0], 'status']}; "
                  f"always -> {rows.loc[ids[1], 'status']}", lost, dup, f"{res.returncode}",
                  res.returncode == 1 and rows.loc[ids[0], "status"] == "ok" and rows.loc[ids[1], "status"] == "failed")


def missing_images(root: Path) -> Result:
    c = Case(root, sweep="name: m\n" + TINY + "grid:\n  variant: [D, labels]\n  dataset: [cifar100]\n"
                                              "  mode: [oneshot]\n  seed: [0]\n")
    res = c.run()
    rows = pd.read_parquet(c.folder / "cells")
    no_data = rows[rows.status == "no_data"]
    again = c.run("--retry-failed")
    lost, dup = c.count()
    portable = bool(len(no_data)) and no_data.error.str.contains(r"\$HARNESS_DATA/").all()
    return Result("labelled cell without training images", f"status no_data ({len(no_data)}), error names "
                  f"$HARNESS_DATA: {portable}; --retry-failed skips it", lost, dup,
                  f"{res.returncode} -> {again.returncode}",
                  res.returncode == 0 and len(no_data) == 1 and portable and "0 to run" in again.stderr)


def stale_cluster_record(root: Path) -> Result:
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")  # a head killed without `ray stop`
    c = Case(root, env={"RAY_TMPDIR": str(ray_tmp)})
    t0 = time.monotonic()
    res = c.run(timeout=900)
    lost, dup = c.count()
    return Result("stale `ray start` record on the machine", f"embedded Ray of its own; done in "
                  f"{time.monotonic() - t0:.0f} s", lost, dup, f"{res.returncode}", res.returncode == 0)


def million_cell_dry_run(root: Path) -> Result:
    f = Path(tempfile.mkdtemp(prefix="big-", dir=root)) / "million.yaml"
    alphas = [round(1e-4 * (i + 1), 6) for i in range(50)]
    f.write_text(f"name: million\nbenchmark: none\ngrid:\n  seed: {list(range(10000))}\n  alpha_scale: {alphas}\n"
                 "  mode: [oneshot, iterative]\n")
    out = f.parent / "out.txt"
    with out.open("w") as fh:
        res = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "harness.sweep", str(f), "--dry-run",
                              "--results", str(f.parent / "r")], cwd=REPO, stdout=fh, stderr=subprocess.PIPE,
                             text=True)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", res.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
    minutes, _, seconds = (wall.group(1) if wall else "0:0").rpartition(":")
    wall_s = float(seconds) + 60 * float(minutes or 0)
    rss_mb = int(rss.group(1)) / 1024 if rss else float("nan")
    lines = sum(1 for _ in out.open())
    return Result("--dry-run of 10^6 cells", f"{wall_s:.1f} s wall, {rss_mb:.0f} MB max RSS, {lines:,} lines", 0, 0,
                  f"{res.returncode}", res.returncode == 0 and wall_s <= 30 and rss_mb <= 1024)


def cluster_token(root: Path) -> list[Result]:
    """A real `ray start --head` (own session, temp dir, port and HOME holding a token)."""
    import uuid

    base = Path(tempfile.mkdtemp(prefix="rh", dir="/tmp"))
    (base / "home" / ".ray").mkdir(parents=True)
    (base / "home" / ".ray" / "auth_token").write_text(uuid.uuid4().hex)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(base / "home"), RAY_TMPDIR=str(base))
    t0 = time.time()
    head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--port={port}",
                             f"--temp-dir={base / 'ray'}", "--num-cpus=2", "--include-dashboard=false",
                             "--disable-usage-stats"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        while "Ray runtime started" not in (head.stdout.readline() or "Ray runtime started"):
            pass
        up = time.time() - t0
        c = Case(root, sweep="name: m\n" + TINY + "grid:\n  mode: [oneshot]\n  seed: [0, 1]\n", env=env)
        t1 = time.time()
        res = c.run("--address", f"127.0.0.1:{port}")
        lost, dup = c.count()
        first = pd.read_parquet(c.folder / "cells").finished_at.min().timestamp() if not lost else float("nan")
        out = [Result("cluster: `ray start --head` (token auth on) + --address",
                      f"head up {up:.0f} s; first cell done {first - t1:.0f} s after the command, "
                      f"{first - t0:.0f} s after `ray start`", lost, dup, f"{res.returncode}", res.returncode == 0)]
        empty = Path(tempfile.mkdtemp(prefix="home-", dir=root))
        fresh = Case(root, sweep="name: m\n" + TINY + "grid:\n  mode: [oneshot]\n  seed: [0, 1]\n", env=env)
        t2 = time.monotonic()
        res = fresh.run("--address", f"127.0.0.1:{port}", env={"HOME": str(empty)})
        out.append(Result("cluster: driver without the token", f"one line naming `ray get-auth-token` after "
                          f"{time.monotonic() - t2:.0f} s", 0, 0, f"{res.returncode}",
                          res.returncode == 2 and _one_line(res.stderr) and "ray get-auth-token" in res.stderr))
        return out
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # only the session we started; never `ray stop`
        if _session_left(head.pid, timeout_s=5):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)


FAULTS: dict[str, Callable[[Path], Result | list[Result]]] = {
    "sigkill-mid-sweep": sigkill_mid_sweep,
    "leftover-temp-files": leftover_temp_files,
    "truncated-part-file": truncated_part_file,
    "flipped-bit": flipped_byte,
    "sigint-mid-sweep": sigint_mid_sweep,
    "sigterm-mid-sweep": sigterm_mid_sweep,
    "sigint-at-ray-start": sigint_at_ray_start,
    "second-driver": second_driver,
    "stale-lock": stale_lock,
    "corrupt-table": corrupt_table_rebuilt,
    "corrupt-table-no-source": corrupt_table_no_source,
    "bad-inputs": bad_inputs,
    "crafted-cifar-batch": crafted_cifar_batch,
    "crafted-nb201-pth": crafted_nb201_pth,
    "worker-deaths": worker_deaths,
    "missing-images": missing_images,
    "stale-cluster-record": stale_cluster_record,
    "million-cell-dry-run": million_cell_dry_run,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", choices=[*FAULTS, "cluster"], help="run only these faults")
    p.add_argument("--cluster", action="store_true", help="also start a real Ray head (token auth) on this machine")
    p.add_argument("--seed", type=int, default=0, help="seeds where kills land")
    args = p.parse_args(argv)
    random.seed(args.seed)
    os.environ.setdefault("HARNESS_DATA", str(REPO.parent / "shared" / "data"))
    os.environ.setdefault("HARNESS_CACHE", tempfile.mkdtemp(prefix="fm-cache-"))
    chosen = args.only or list(FAULTS) + (["cluster"] if args.cluster else [])
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as tmp:
        for name in chosen:
            t0 = time.monotonic()
            fn = cluster_token if name == "cluster" else FAULTS[name]
            try:
                got = fn(Path(tmp))
            except Exception as exc:  # noqa: BLE001  (a fault that breaks the script is a failed fault)
                got = Result(name, f"script error: {type(exc).__name__}: {exc}"[:120], -1, -1, "?", False)
            for r in got if isinstance(got, list) else [got]:
                results.append(r)
                print(f"[{time.monotonic() - t0:5.0f} s] {r.fault}: {r.outcome} | lost {r.lost} | dup {r.duplicated} "
                      f"| exit {r.exit} | {'as expected' if r.ok else 'UNEXPECTED'}", file=sys.stderr, flush=True)
    print("| fault | outcome | rows lost | rows duplicated | exit code |")
    print("|---|---|---:|---:|---|")
    for r in results:
        mark = "" if r.ok else " **UNEXPECTED**"
        print(f"| {r.fault} | {r.outcome}{mark} | {r.lost} | {r.duplicated} | {r.exit} |")
    bad = [r for r in results if not r.ok or r.lost or r.duplicated]
    print(f"\n{len(results)} fault classes, {sum(r.lost for r in results if r.lost > 0)} rows lost, "
          f"{sum(r.duplicated for r in results if r.duplicated > 0)} duplicated, {len(bad)} unexpected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
