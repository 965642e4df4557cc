"""Interrupt the sweep CLI at many moments of its Ray start-up and report how each run ended.

    python scripts/interrupt_startup.py --signal TERM --start 0.2 --stop 7.2 --step 0.2 --busy 6

Each run: a 2-cell sweep on a fresh results folder; the signal is sent `delay` seconds after the
plan line ("... to run"), i.e. while Ray starts, Tune is imported and the first trial is set up.
`--busy N` runs N busy loops meanwhile (a loaded machine stretches the start-up: the windows where
an interrupt once crashed the driver were 3.6-5.8 s after the plan line with 3-6 loops on 2 cores).
Expected for every delay: exit 130 and stderr holding only the CLI's own lines.
"""

from __future__ import annotations

import argparse
import collections
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWEEP = ("name: s\nbenchmark: none\nsettings:\n  space_options: {channels: 4, cells_per_stage: 1}\n"
         "grid:\n  mode: [oneshot]\n  seed: [0, 1]\n")
OWN_LINES = ("cells ", "interrupted: ", "note: ")  # what the CLI itself prints on stderr


def one_run(sig: int, delay: float) -> tuple[int, list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "s.yaml"
        sweep.write_text(SWEEP)
        proc = subprocess.Popen([sys.executable, "-m", "harness.sweep", str(sweep), "--results", str(Path(tmp) / "r")],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        line = " "
        while line and "to run" not in line:
            line = proc.stderr.readline()
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
    foreign = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(OWN_LINES)]
    return proc.returncode, foreign


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--signal", choices=["INT", "TERM"], default="TERM")
    p.add_argument("--start", type=float, default=0.2, help="first delay after the plan line, s")
    p.add_argument("--stop", type=float, default=7.2, help="last delay, s")
    p.add_argument("--step", type=float, default=0.2)
    p.add_argument("--busy", type=int, default=0, help="busy loops to run meanwhile")
    args = p.parse_args()
    sig = getattr(signal, "SIG" + args.signal)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    outcomes: collections.Counter = collections.Counter()
    try:
        n = round((args.stop - args.start) / args.step) + 1
        for i in range(n):
            delay = round(args.start + i * args.step, 3)
            code, foreign = one_run(sig, delay)
            clean = code == 130 and not foreign
            outcomes["exit 130, only the CLI's lines" if clean else f"exit {code}, other lines: {bool(foreign)}"] += 1
            print(f"{delay:5.2f} s  exit {code:4d}  {'ok' if clean else 'UNEXPECTED: ' + ' | '.join(foreign[:3])[:200]}",
                  flush=True)
    finally:
        for b in busy:
            b.kill()
    print(f"SIG{args.signal}, {sum(outcomes.values())} runs, {args.busy} busy loops: "
          + "; ".join(f"{k}: {v}" for k, v in outcomes.items()))
    return 0 if set(outcomes) == {"exit 130, only the CLI's lines"} else 1


if __name__ == "__main__":
    sys.exit(main())
