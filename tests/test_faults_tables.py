"""Issue 10, item 5: benchmark tables are verified on the driver and a worker trusts its copy only by
content hash; a corrupt cached table is rebuilt from the raw source, or refused in one line naming the
rebuild when there is none. No Ray (seconds each)."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import tables
from harness.config import load, parse
from harness.errors import ConversionError
from harness.sweep import make_context

REPO = Path(__file__).resolve().parents[1]


def cli(args, env=None):
    return subprocess.run([sys.executable, "-m", "harness.sweep", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def one_line(text: str) -> bool:
    return text.strip() != "" and "\n" not in text.strip()


# -- 5: benchmark tables verified on the driver; worker copies keyed and checked by content ----------------
def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_cached_table_is_rebuilt_from_the_raw_source(tmp_path, monkeypatch, data_root):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    sweep = parse({"grid": {"seed": [0]}}, "x.yaml")
    first = make_context(sweep, out=io.StringIO())
    _corrupt(Path(first.table_dir) / "table.parquet")
    out = io.StringIO()
    again = make_context(sweep, out=out)
    assert one_line(out.getvalue()) and "was corrupt" in out.getvalue() and "rebuilt" in out.getvalue()
    table = Path(again.table_dir) / "table.parquet"
    assert table.read_bytes() == dict(first.table_files)["table.parquet"]  # the same table, intact again


def test_corrupt_cached_table_without_a_source_is_one_line_naming_the_rebuild(tmp_path, monkeypatch, data_root):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    sweep_file = tmp_path / "x.yaml"
    sweep_file.write_text("name: x\ngrid:\n  seed: [0]\n")
    make_context(load(sweep_file), out=io.StringIO())
    _corrupt(tmp_path / "cache" / "nasbench201" / "table.parquet")
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path / "empty-data"))
    with pytest.raises(ConversionError) as err:
        make_context(load(sweep_file), out=io.StringIO())
    assert one_line(str(err.value)) and "python -m benchmarks convert nasbench201" in str(err.value)
    assert str(tmp_path / "cache" / "nasbench201") in str(err.value)
    res = cli([sweep_file, "--results", tmp_path / "r"],  # again, from the shell: still refused, never run
              env={"HARNESS_CACHE": str(tmp_path / "cache"), "HARNESS_DATA": str(tmp_path / "empty-data")})
    assert res.returncode == 2 and one_line(res.stderr) and "is corrupt" in res.stderr, res.stderr


def test_corrupt_configured_table_is_an_error(tmp_path, monkeypatch, data_root):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    ctx = make_context(parse({"grid": {"seed": [0]}}, "x.yaml"), out=io.StringIO())
    _corrupt(Path(ctx.table_dir) / "table.parquet")
    sweep = parse({"benchmark_table": ctx.table_dir, "grid": {"seed": [0]}}, "x.yaml")
    with pytest.raises(ConversionError, match="named in x.yaml is not intact"):
        make_context(sweep, out=io.StringIO())


def test_worker_copy_is_trusted_only_by_content_hash(tmp_path, monkeypatch, data_root):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    ctx = make_context(parse({"grid": {"seed": [0]}}, "x.yaml"), out=io.StringIO())
    remote = dataclasses.replace(ctx, table_dir=str(tmp_path / "elsewhere"))
    monkeypatch.setattr(tables, "_verified_dirs", {})
    copy = Path(tables.local_table_dir(remote))
    assert copy.is_relative_to(tmp_path / "cache") and tables.content_hash(copy) == ctx.table_key
    _corrupt(copy / "table.parquet")  # a later worker process must not trust it
    stale = copy.parent / "nasbench201-0123456789abcdef"
    stale.mkdir()
    os.utime(stale, (0, 0))  # unused for decades: pruned when a copy is made
    monkeypatch.setattr(tables, "_verified_dirs", {})
    again = Path(tables.local_table_dir(remote))
    assert again == copy and tables.content_hash(again) == ctx.table_key
    assert not stale.exists() and not list(copy.parent.glob(".incoming-*"))
