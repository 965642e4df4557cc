"""Test-only writers of NAS-Bench-101's file format (the inverse of benchmarks/_nb101_tfrecord.py):
TFRecord framing and the ModelMetrics proto, to build fixtures the reader must read back."""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from archcodec.nb101 import module_hash, prune
from benchmarks._nb101_tfrecord import _EVAL_FIELDS, ModelMetrics, masked_crc32c


def write_tfrecord(path: Path, payloads: Iterable[bytes]) -> Path:
    """Write payloads with the official TFRecord framing (for fixtures and round trips)."""
    with Path(path).open("wb") as fh:
        for data in payloads:
            head = struct.pack("<Q", len(data))
            fh.write(head + struct.pack("<I", masked_crc32c(head)) + data + struct.pack("<I", masked_crc32c(data)))
    return Path(path)



def _put_varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_model_metrics(m: ModelMetrics) -> bytes:
    out = bytearray()
    for ev in m.evaluation_data:
        inner = b"".join(_put_varint((i + 1) << 3 | 1) + struct.pack("<d", getattr(ev, f))
                         for i, f in enumerate(_EVAL_FIELDS) if not math.isnan(getattr(ev, f)))
        out += _put_varint(1 << 3 | 2) + _put_varint(len(inner)) + inner
    out += _put_varint(2 << 3 | 0) + _put_varint(m.trainable_parameters)
    if not math.isnan(m.total_time):
        out += _put_varint(3 << 3 | 1) + struct.pack("<d", m.total_time)
    return bytes(out)


def encode_record(matrix: np.ndarray, ops: Sequence[str], epochs: int, metrics: ModelMetrics,
                  module_hash_: str | None = None) -> bytes:
    """One official NB101 record payload (JSON list) for `write_tfrecord`."""
    m = np.asarray(matrix).astype(np.int64)
    key = module_hash_ or module_hash(*prune(m, ops))
    raw_adj = "".join(str(int(v)) for v in m.flatten())
    blob = base64.b64encode(encode_model_metrics(metrics)).decode()
    return json.dumps([key, int(epochs), raw_adj, ",".join(ops), blob]).encode()

