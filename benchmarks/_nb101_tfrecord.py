"""NAS-Bench-101's file format, read without TensorFlow: TFRecord framing and the ModelMetrics proto.

TFRecord framing: `uint64 len | uint32 masked_crc32c(len) | data | uint32 masked_crc32c(data)`
(little-endian, CRC-32C). ModelMetrics is a proto2 message decoded by the small wire-format reader
below (`evaluation_data = 1` repeated {current_epoch, training_time, train_accuracy,
validation_accuracy, test_accuracy} doubles 1..5, `trainable_parameters = 2`, `total_time = 3`).
Used by `benchmarks/nasbench101.py`; the writers that build test fixtures live in
tests/nb101_tfrecord_writer.py (only tests write NB101 files).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.errors import ConversionError


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord uses."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_tfrecord(path: Path, *, verify_crc: bool = True) -> Iterator[bytes]:
    """The payloads of a TFRecord file. Raises ConversionError naming the file and offset on corruption."""
    with Path(path).open("rb") as fh:
        offset = 0
        while True:
            head = fh.read(12)
            if not head:
                return
            if len(head) < 12:
                raise ConversionError(f"{path}: truncated TFRecord header at byte {offset}; the file is incomplete, download it again")
            (length,) = struct.unpack("<Q", head[:8])
            (len_crc,) = struct.unpack("<I", head[8:])
            if masked_crc32c(head[:8]) != len_crc:
                raise ConversionError(f"{path}: bad length CRC at byte {offset}; not a TFRecord file or corrupted")
            data = fh.read(length)
            foot = fh.read(4)
            if len(data) < length or len(foot) < 4:
                raise ConversionError(f"{path}: truncated record at byte {offset}; the file is incomplete, download it again")
            if verify_crc and masked_crc32c(data) != struct.unpack("<I", foot)[0]:
                raise ConversionError(f"{path}: bad data CRC in the record at byte {offset}; the file is corrupted")
            offset += 16 + length
            yield data


@dataclass(frozen=True)
class EvaluationData:
    current_epoch: float = math.nan
    training_time: float = math.nan
    train_accuracy: float = math.nan
    validation_accuracy: float = math.nan
    test_accuracy: float = math.nan


_EVAL_FIELDS = ("current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy")


@dataclass(frozen=True)
class ModelMetrics:
    """NB101's `ModelMetrics` proto: evaluation_data[0] = start, [1] = halfway, [2] = final."""

    evaluation_data: tuple[EvaluationData, ...] = ()
    trainable_parameters: int = 0
    total_time: float = math.nan


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a protobuf message; unknown fields are skipped by callers."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<d", buf, pos)[0], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = struct.unpack_from("<f", buf, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated field")
        yield number, wire, value


def decode_model_metrics(buf: bytes) -> ModelMetrics:
    evals, params, total = [], 0, math.nan
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 2:
            kw = {_EVAL_FIELDS[n - 1]: v for n, w, v in _fields(value) if 1 <= n <= 5 and w == 1}
            evals.append(EvaluationData(**kw))
        elif number == 2 and wire == 0:
            params = value - (1 << 64) if value >= 1 << 63 else value  # int32 negatives are 10-byte varints
        elif number == 3 and wire == 1:
            total = value
    return ModelMetrics(tuple(evals), int(params), total)

