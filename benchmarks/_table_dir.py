"""The on-disk shape every converted benchmark table shares, in one place.

A table directory holds `table.parquet` and `metadata.json`; the metadata is written last (each
file atomically), so a directory without it is an unfinished conversion, and `table_sha256` in it
lets `read_verified` refuse a table that was changed or truncated since.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import logging
from pathlib import Path

from benchmarks.errors import BenchmarkTableMissingError, ConversionError

TABLE_FILE = "table.parquet"
METADATA_FILE = "metadata.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a unique temp file + rename so a reader (or a concurrent converter) never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(out_dir: Path, table_bytes: bytes, metadata: dict) -> None:
    """The table, then its metadata (last: marks the conversion done)."""
    atomic_write(out_dir / TABLE_FILE, table_bytes)
    atomic_write(out_dir / METADATA_FILE, (json.dumps(metadata, indent=2) + "\n").encode())


def has_table(table_dir: Path) -> bool:
    """True when `table_dir` holds a finished conversion."""
    table_dir = Path(table_dir)
    return (table_dir / TABLE_FILE).is_file() and (table_dir / METADATA_FILE).is_file()


def require_table(name: str, table_dir: Path, fix: str) -> Path:
    """`table_dir` if it holds a finished table, else `BenchmarkTableMissingError` with `fix`."""
    table_dir = Path(table_dir).expanduser()
    if not has_table(table_dir):
        raise BenchmarkTableMissingError(name, str(table_dir), fix)
    return table_dir


def read_verified(name: str, table_dir: Path, fix: str) -> tuple[dict, bytes]:
    """(metadata, table bytes) of an intact `name` table; one-line errors naming the fix otherwise."""
    table_dir = require_table(name, table_dir, fix)
    try:
        meta = json.loads((table_dir / METADATA_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        meta = {}  # reported below as a mismatch, with the same fix
    data = (table_dir / TABLE_FILE).read_bytes()
    if (not isinstance(meta, dict) or meta.get("benchmark") != name
            or hashlib.sha256(data).hexdigest() != meta.get("table_sha256")):
        raise ConversionError(f"{table_dir} is not an intact {name} table (benchmark or table_sha256 in "
                              f"{METADATA_FILE} does not match {TABLE_FILE}); fix: {fix}")
    return meta, data


def verify_table(name: str, table_dir: Path, fix: str) -> None:
    """Raise (one line, naming `fix`) unless `table_dir` holds an intact `name` table."""
    read_verified(name, table_dir, fix)


_SET_ASIDE = ".metadata.json.set-aside"


def set_aside(table_dir: Path) -> None:
    """Mark a table directory unfinished (its metadata moves aside), so the next resolve converts it
    again; `restore` undoes it when there is nothing to convert from."""
    meta = Path(table_dir) / METADATA_FILE
    if meta.exists():
        os.replace(meta, Path(table_dir) / _SET_ASIDE)


def restore(table_dir: Path) -> None:
    """Put set-aside metadata back unless a new conversion wrote its own."""
    aside = Path(table_dir) / _SET_ASIDE
    if aside.exists() and not (Path(table_dir) / METADATA_FILE).exists():
        os.replace(aside, Path(table_dir) / METADATA_FILE)
    aside.unlink(missing_ok=True)


def resolve_cached(name: str, data_root: Path, cache_root: Path, configured: Path | None, *, fix: str,
                   find_source, convert, note: str = "") -> Path | None:
    """The usual `resolve_table` of a benchmark: `configured` (which must hold a table), else the
    cached `cache_root/name`, else one converted now from the source `find_source(data_root)` finds;
    None when there is no data. `note` is appended to the one log line of a conversion."""
    if configured is not None:
        return require_table(name, configured, fix)
    cached = Path(cache_root) / name
    if has_table(cached):
        return cached
    source = find_source(Path(data_root))
    if source is None:
        return None
    logging.getLogger(f"benchmarks.{name}").info("no %s table in %s yet; converting %s once (%slater runs reuse it)",
                                                 name, cached, source, note)
    return convert(source, cached)

