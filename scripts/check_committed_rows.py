"""Do today's searches find the architectures of committed rows? (not a test; numbers, not asserts)

    python scripts/check_committed_rows.py table3 fig3 bias table2          # NB201 FreeDARTS-D iterative cells
    python scripts/check_committed_rows.py table5 --space darts --mode iterative

For each sweep named (sweeps/<name>.yaml, rows under results/<name>/), every `ok` row of the chosen
kind (space, method, variant, mode; by default NB201 FreeDARTS-D iterative) is searched again in this
process with `harness.runner.run_cell` (the row's own engine unless `--engine`, no benchmark lookups)
and its architecture compared with the row's. Prints one line per cell that differs and a summary.
Use it after an engine change: rows whose search would now differ are the ones to run again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from harness import store  # noqa: E402
from harness.config import load  # noqa: E402
from harness.runner import RunContext, run_cell  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweeps", nargs="+", help="sweep names (sweeps/<name>.yaml, results/<name>/)")
    p.add_argument("--space", default="nasbench201")
    p.add_argument("--method", default="freedarts")
    p.add_argument("--variant", default="D")
    p.add_argument("--mode", default="iterative")
    p.add_argument("--engine", default=None, help="fast or reference (default: each row's own engine)")
    p.add_argument("--results", default=str(REPO / "results"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    checked, differ = 0, []
    for name in args.sweeps:
        rows = store.read_cells(Path(args.results) / name).set_index("cell_id")
        for cell in load(REPO / "sweeps" / f"{name}.yaml").cells:
            kind = (cell.space, cell.method, cell.variant, cell.mode)
            if kind != (args.space, args.method, args.variant, args.mode) or cell.cell_id not in rows.index:
                continue
            row = rows.loc[cell.cell_id]
            if row["status"] != store.STATUS_OK:
                continue
            recorded = row.get("engine")
            engine = args.engine or (recorded if isinstance(recorded, str) else "reference")  # older rows: reference
            new, _ = run_cell(cell, RunContext(sweep="check", engine=engine))
            checked += 1
            if new.get("arch") != row["arch"]:
                differ.append(cell.cell_id)
                print(f"{name} {cell.cell_id} {cell.dataset} alpha_scale={cell.alpha_scale:g} seed={cell.seed} "
                      f"engine={engine}: row {row['arch']} -> now {new.get('arch') or new.get('error')}", flush=True)
    print(f"{checked} cells searched again; {len(differ)} differ from the committed rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
