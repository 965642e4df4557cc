"""The search datasets (geometry, NB201 normalisation, augmentation padding) and the batch types.

`DATASETS` is the dataset registry (`dataset_info(name)`); `Batch` is what a method scores, `ImageSet`
a dataset's training images. Re-exported by `harness.data`, the module to import.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.errors import UnknownNameError


@dataclass(frozen=True)
class DatasetInfo:
    """One NB201 search dataset: geometry, NB201 normalisation and augmentation padding."""

    name: str  # harness name: "cifar10", "cifar100", "imagenet16-120"
    benchmark_name: str  # NB201's name: "cifar10", "cifar100", "ImageNet16-120"
    input_size: int  # H == W
    num_classes: int
    mean: tuple[float, float, float]  # NB201 normalisation (RGB, 0..1 scale)
    std: tuple[float, float, float]
    crop_padding: int  # zero padding of the random crop


def _over255(*v: float) -> tuple[float, float, float]:
    a, b, c = (x / 255.0 for x in v)
    return (a, b, c)


DATASETS: dict[str, DatasetInfo] = {
    "cifar10": DatasetInfo(
        name="cifar10",
        benchmark_name="cifar10",
        input_size=32,
        num_classes=10,
        mean=_over255(125.3, 123.0, 113.9),
        std=_over255(63.0, 62.1, 66.7),
        crop_padding=4,
    ),
    "cifar100": DatasetInfo(
        name="cifar100",
        benchmark_name="cifar100",
        input_size=32,
        num_classes=100,
        mean=_over255(129.3, 124.1, 112.4),
        std=_over255(68.2, 65.4, 70.4),
        crop_padding=4,
    ),
    "imagenet16-120": DatasetInfo(
        name="imagenet16-120",
        benchmark_name="ImageNet16-120",
        input_size=16,
        num_classes=120,
        mean=_over255(122.68, 116.66, 104.01),
        std=_over255(63.22, 61.26, 65.09),
        crop_padding=2,
    ),
    # Full-resolution ImageNet (DARTS-ImageNet / MobileNet searches): FreeDARTS-D needs no images;
    # the labelled variants need a preprocessed <root>/imagenet/*.npz (x_train uint8 (N,224,224,3),
    # y_train 0..999). Real ImageNet is not staged here, so they raise DataNotFoundError.
    "imagenet": DatasetInfo(
        name="imagenet",
        benchmark_name="ImageNet",
        input_size=224,
        num_classes=1000,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        crop_padding=0,
    ),
}

NORMALIZATIONS: tuple[str, ...] = ("nb201", "darts")
_DARTS_MEAN = (0.4914, 0.4822, 0.4465)
_DARTS_STD = (0.2470, 0.2435, 0.2616)

VARIANTS: tuple[str, ...] = ("D", "labels", "random_labels")


def dataset_info(dataset: str) -> DatasetInfo:
    """The `DatasetInfo` of `dataset`; unknown names raise `UnknownNameError` (a ValueError)."""
    try:
        return DATASETS[dataset]
    except (KeyError, TypeError):
        raise UnknownNameError("dataset", dataset, DATASETS) from None


def _norm_stats(info: DatasetInfo, normalization: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if normalization == "nb201":
        return info.mean, info.std
    if normalization == "darts":
        return _DARTS_MEAN, _DARTS_STD
    raise UnknownNameError("normalization", normalization, NORMALIZATIONS)


# --------------------------------------------------------------------------------------------------
# Batches


@dataclass(frozen=True)
class Batch:
    """One input batch: `x` float32 NCHW, `labels` int64 (None for the all-ones input), `source`."""

    x: torch.Tensor
    labels: torch.Tensor | None
    source: str


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Training images of one dataset: `x` uint8 NHWC (read-only), `y` int64 (N,), `source` path."""

    x: np.ndarray
    y: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.x.shape[0])


def ones_batch(input_size: int, batch_size: int = 1) -> Batch:
    """FreeDARTS-D input: `torch.ones(batch_size, 3, input_size, input_size)`, no labels."""
    if input_size < 1 or batch_size < 1:
        raise ValueError(f"ones_batch needs input_size >= 1 and batch_size >= 1, got {input_size}, {batch_size}")
    return Batch(x=torch.ones(batch_size, 3, input_size, input_size, dtype=torch.float32), labels=None, source="all-ones")

