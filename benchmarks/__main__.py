"""Command line for benchmark tables.

    python -m benchmarks convert nasbench201 SOURCE [--out DIR]   # default DIR: <cache_root>/nasbench201
    python -m benchmarks info DIR                                  # metadata + row count of a converted table

Domain errors (missing/malformed source, missing table) print one line to stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks import get_benchmark, list_benchmarks
from benchmarks.errors import BenchmarkError
from benchmarks.paths import cache_root

_EXIT_DOMAIN_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Convert and inspect NAS benchmark tables.")
    sub = parser.add_subparsers(dest="command", required=True)
    convert = sub.add_parser("convert", help="convert a raw benchmark source into table.parquet + metadata.json")
    convert.add_argument("benchmark", choices=list_benchmarks())
    convert.add_argument("source", type=Path, help="raw source file or directory")
    convert.add_argument("--out", type=Path, default=None, help="output dir (default: <cache_root>/<benchmark>)")
    info = sub.add_parser("info", help="print a converted table's metadata and row count")
    info.add_argument("table_dir", type=Path)
    return parser


def _convert(args: argparse.Namespace) -> None:
    spec = get_benchmark(args.benchmark)
    out = spec.convert(args.source, args.out or cache_root() / spec.name)
    print(out)


def _info(args: argparse.Namespace) -> None:
    meta_path = args.table_dir / "metadata.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"no metadata.json in {args.table_dir}; fix: run `python -m benchmarks convert "
                                f"<benchmark> <source> --out {args.table_dir}` first")
    name = json.loads(meta_path.read_text(encoding="utf-8")).get("benchmark", "")
    table = get_benchmark(name).open_table(args.table_dir)
    print(json.dumps(table.metadata, indent=2))
    print(f"rows: {len(table)}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        _convert(args) if args.command == "convert" else _info(args)
    except (BenchmarkError, FileNotFoundError, ValueError) as err:  # domain errors: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return _EXIT_DOMAIN_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
