"""A sweep's benchmark table: verified on the driver, shipped to the workers, copied and checked there.

    table_dir = resolve_table(sweep)                 # driver: converted / rebuilt and verified
    files, key = pack_table(table_dir)               # driver: its bytes + content hash, sent through Ray
    local = local_table_dir(ctx)                     # worker: a directory whose content hash is `key`

* The driver opens the table before any cell runs (sha256 against its metadata, then parsed), so
  a corrupt cache entry never reaches the workers: it is rebuilt from the raw source in the data
  root (one note line), or named in one error line with the command that rebuilds it.
* A sweep may name more benchmarks (`extra_benchmarks:`): each is resolved, verified and shipped the
  same way, as a `TableRef`; the worker looks every final architecture up in each of them too.
* A worker reads the driver's directory itself when it sees it with the same content hash (the
  same machine, or a shared file system): no copy. Otherwise it materialises the shipped bytes
  under its own cache folder, `<cache>/shipped-tables/<benchmark>-<hash>/`, and trusts a copy
  only when its content hash matches (a half-written or altered copy is replaced, never used).
  Copies unused for `STALE_DAYS` are removed when a new one is made.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import _table_dir, get_benchmark
from benchmarks.paths import cache_root, data_root
from harness.errors import BenchmarkError, BenchmarkTableMissingError, ConversionError

log = logging.getLogger(__name__)

SHIPPED_DIR = "shipped-tables"
STALE_DAYS = 7
_verified_dirs: dict[str, str] = {}  # content hash -> verified local directory (per worker process)


@dataclass(frozen=True)
class TableRef:
    """One benchmark table as the workers get it (the fields `local_table_dir` reads)."""

    benchmark: str
    table_dir: str | None = None
    table_files: tuple = ()
    table_key: str = ""


def resolve_table(sweep, out=sys.stderr, benchmark: str | None = None) -> str | None:
    """A benchmark table directory of the sweep, verified (None when no data is available).

    `benchmark` defaults to the sweep's own; `benchmark_table:` of the sweep file applies only to that
    one (an extra benchmark is always resolved from the cache / data root).
    """
    name = benchmark or sweep.benchmark
    if name == "none":
        return None
    bench = get_benchmark(name)
    configured = Path(sweep.benchmark_table) if sweep.benchmark_table and name == sweep.benchmark else None
    root, cache = data_root(sweep.data_root), cache_root()
    cached = cache / bench.name
    rebuild = (f"rebuild it with `python -m benchmarks convert {bench.name} <raw source> --out {cached}` "
               f"({bench.obtain_hint})")
    had_cache = configured is None and _table_dir.has_table(cached)
    try:
        return _verified(bench, bench.resolve_table(root, cache, configured))
    except BenchmarkTableMissingError:
        raise
    except (BenchmarkError, ValueError, OSError) as exc:
        if configured is not None:
            raise ConversionError(f"the benchmark table {configured} named in {sweep.source} is not intact "
                                  f"({_short(exc)}); fix: point benchmark_table at an intact table or "
                                  f"{rebuild}") from None
        if not had_cache:  # converting the raw source failed: its own error says why
            raise ConversionError(_short(exc)) from None
        problem = _short(exc)
    _table_dir.set_aside(cached)  # unfinished now: resolve converts the raw source again
    try:
        table = _verified(bench, bench.resolve_table(root, cache, None))
    except (BenchmarkError, ValueError, OSError) as exc:
        _table_dir.restore(cached)  # keep failing loudly until fixed, never run without lookups
        raise ConversionError(f"the cached {bench.name} table at {cached} is corrupt ({problem}) and rebuilding it "
                              f"from the data root failed ({_short(exc)}); fix: {rebuild}") from None
    _table_dir.restore(cached)
    if table is None:
        raise ConversionError(f"the cached {bench.name} table at {cached} is corrupt ({problem}) and {root} holds "
                              f"no raw source to rebuild it from; fix: {rebuild}")
    out.write(f"note: the cached {bench.name} table at {cached} was corrupt ({problem}); rebuilt it from the raw "
              "source in the data root\n")
    return table


def _verified(bench, table: Path | None) -> str | None:
    """`table` once it opens (a converted table is parsed and its sha256 checked); surrogate model
    folders (no table.parquet) are opened by the workers."""
    if table is not None and _table_dir.has_table(table):
        bench.open_table(table)
    return str(table) if table is not None else None


def _short(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:240]


def _files(table_dir: Path) -> list[Path]:
    """The files that make the table (temporary '.'-files of a concurrent writer excluded)."""
    return sorted(p for p in Path(table_dir).rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(table_dir).parts))


def _digest(named_blobs) -> str:
    digest = hashlib.sha256()
    for name, blob in named_blobs:
        digest.update(name.encode() + b"\0" + hashlib.sha256(blob).digest())
    return digest.hexdigest()[:16]


def content_hash(table_dir: str | Path) -> str:
    """The hash `pack_table` gives the same files (names and bytes)."""
    table_dir = Path(table_dir)
    return _digest((str(p.relative_to(table_dir)), p.read_bytes()) for p in _files(table_dir))


def pack_table(table_dir: str | None, limit_bytes: int = 256 * 2**20) -> tuple[tuple, str]:
    """(files, content hash) of a table directory for shipping, or ((), "") if absent or too big."""
    if table_dir is None:
        return (), ""
    files = _files(Path(table_dir))
    if sum(p.stat().st_size for p in files) > limit_bytes:
        log.warning("benchmark table %s is over %d MB: not shipped; every node must see it at that path",
                    table_dir, limit_bytes // 2**20)
        return (), ""
    packed = tuple((str(p.relative_to(table_dir)), p.read_bytes()) for p in files)
    return packed, _digest(packed)


def table_ref(benchmark: str, table_dir: str | None) -> TableRef:
    """A verified table directory packed for shipping (`pack_table`)."""
    files, key = pack_table(table_dir)
    return TableRef(benchmark=benchmark, table_dir=table_dir, table_files=files, table_key=key)


def extra_table_refs(sweep, out=sys.stderr) -> tuple[TableRef, ...]:
    """The sweep's `extra_benchmarks`, each resolved, verified and packed like the primary table; a
    missing one is a note line (its columns stay empty, `lookups_json` says no_table), not an error."""
    refs = []
    for name in sweep.extra_benchmarks:
        table_dir = resolve_table(sweep, out, benchmark=name)
        if table_dir is None:
            out.write(f"note: no {name} table found (extra_benchmarks), rows will not have its columns; "
                      f"{get_benchmark(name).obtain_hint}\n")
        refs.append(table_ref(name, table_dir))
    return tuple(refs)


def local_table_dir(ctx) -> str | None:
    """The table directory this process reads: one whose content hash is the driver's (see module doc).

    `ctx` is a `RunContext` (its primary table) or a `TableRef` (an extra one): both carry
    `benchmark`, `table_dir`, `table_files` and `table_key`."""
    if ctx.table_dir is None or not ctx.table_files:
        return ctx.table_dir
    known = _verified_dirs.get(ctx.table_key)
    if known is not None:
        return known
    chosen = None
    if Path(ctx.table_dir).is_dir() and content_hash(ctx.table_dir) == ctx.table_key:
        chosen = ctx.table_dir  # the driver's own directory (same machine or shared file system)
    else:
        chosen = str(_materialise(ctx))
    _verified_dirs[ctx.table_key] = chosen
    return chosen


def _materialise(ctx) -> Path:
    root = cache_root() / SHIPPED_DIR
    target = root / f"{ctx.benchmark}-{ctx.table_key}"
    if target.is_dir() and content_hash(target) == ctx.table_key:
        os.utime(target)  # in use: keeps it from being pruned as stale
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        for name, blob in ctx.table_files:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(blob)
        if content_hash(tmp) != ctx.table_key:
            raise ConversionError(f"the benchmark table shipped by the driver arrived altered in {tmp}; re-run the sweep")
        if target.exists():  # a corrupt or half-written copy: set it aside, never use it
            stale = root / f".stale-{target.name}-{os.getpid()}-{time.time_ns()}"
            try:
                os.replace(target, stale)
                shutil.rmtree(stale, ignore_errors=True)
            except OSError:
                pass
        try:
            os.replace(tmp, target)
        except OSError:  # another worker on this host won the race: its copy must verify too
            if not (target.is_dir() and content_hash(target) == ctx.table_key):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _prune(root, keep=target)
    return target


def _prune(root: Path, keep: Path) -> None:
    """Remove shipped copies unused for STALE_DAYS and leftovers of killed copies (over an hour old)."""
    now = time.time()
    for p in root.iterdir():
        if p == keep:
            continue
        try:
            age = now - p.stat().st_mtime
        except OSError:  # removed meanwhile by another worker
            continue
        if (p.name.startswith(".") and age > 3600) or (not p.name.startswith(".") and age > STALE_DAYS * 86400):
            shutil.rmtree(p, ignore_errors=True)
