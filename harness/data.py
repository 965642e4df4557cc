"""Input batches for ZEROS scoring: all-ones, real CIFAR-10/100 and ImageNet16-120 images, random labels.

The three FreeDARTS variants (spec §1.2-1.4) differ only in what they feed the supernet:

* ``"D"`` (FreeDARTS-D, data-agnostic): one all-ones image ``torch.ones(1, 3, H, W)``, no labels.
* ``"labels"`` (FreeDARTS): one batch of real *training* images with their true labels.
* ``"random_labels"`` (FreeDARTS-L): the same real images, labels drawn uniformly per sample.

Quick use::

    from benchmarks.paths import data_root
    from harness.data import search_batch

    batch = search_batch("labels", "cifar10", seed=0, batch_size=64, root=data_root())
    batch.x        # float32 (64, 3, 32, 32), augmented (crop+flip) and normalised
    batch.labels   # int64 (64,)  (None for variant "D")
    batch.source   # where the images came from, e.g. ".../cifar10/cifar10_real5000.npz"

Lower-level pieces: ``load_images(dataset, root, images_dir=None) -> ImageSet`` finds and reads the
training images once per process (cached), ``sample_batch(images, dataset, batch_size, generator, ...)``
draws a batch from them with a ``torch.Generator`` (never the global RNG; same seed -> same batch), and
``ones_batch(input_size)`` builds the FreeDARTS-D input.

Where images are looked for (first hit wins; with ``images_dir`` set, *only* there):

* ``cifar10``: ``<root>/cifar-10-batches-py/``, ``<root>/cifar10/cifar-10-batches-py/`` (the official
  python pickles ``data_batch_1..5``), then ``<root>/cifar10/cifar10_real5000.npz`` (the staged 4,000
  real training images).
* ``cifar100``: ``<root>/cifar-100-python/``, ``<root>/cifar100/cifar-100-python/`` (official pickle
  ``train``, fine labels), then any ``<root>/cifar100/*.npz`` with ``x_train``/``y_train`` keys. The staged
  ``cifar100_foolbox20.npz`` holds only 20 *test* images and is deliberately not used.
* ``imagenet16-120``: ``<root>/ImageNet16/``, ``<root>/imagenet16-120/ImageNet16/``, ``<root>/imagenet16/``
  (NB201's downsampled ImageNet16 pickles ``train_data_batch_1..10``); labels 1..120 are kept and mapped
  to 0..119, as NB201's ImageNet16-120 does.

``images_dir`` may be a directory in one of the formats above (or holding a suitable ``.npz``) or a
``.npz`` file itself. ``root`` is normally ``benchmarks.paths.data_root()`` (``$HARNESS_DATA``).
Missing images raise ``DataNotFoundError`` listing every path tried; a present but unreadable or
wrongly shaped file raises ``DataFormatError`` naming the file.

Augmentation follows NB201's search transforms: random crop with zero padding (4 px for CIFAR, 2 for
ImageNet16) and a random horizontal flip; then ``/255`` and normalisation with the dataset's NB201
mean/std (``normalization="nb201"``) or DARTS' CIFAR mean/std for every dataset (``"darts"``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from harness._image_files import _FIX, clear_cache, load_images
from harness.datasets import (
    DATASETS, NORMALIZATIONS, VARIANTS, Batch, DatasetInfo, ImageSet, _norm_stats, dataset_info, ones_batch,
)
from harness.errors import DataNotFoundError, UnknownNameError

log = logging.getLogger(__name__)

__all__ = [
    "DATASETS",
    "NORMALIZATIONS",
    "VARIANTS",
    "Batch",
    "DatasetInfo",
    "ImageSet",
    "clear_cache",
    "dataset_info",
    "load_images",
    "ones_batch",
    "sample_batch",
    "search_batch",
]

# Dataset descriptions and batch types: harness/datasets.py; finding and reading images:
# harness/_image_files.py. Both are re-exported above; this module samples the search batch.

# --------------------------------------------------------------------------------------------------
# Sampling


def sample_batch(
    images: ImageSet,
    dataset: str,
    batch_size: int,
    generator: torch.Generator,
    *,
    augment: bool = True,
    normalization: str = "nb201",
    random_labels: bool = False,
) -> Batch:
    """Draw `batch_size` distinct images with `generator`, augment, normalise; optionally random labels.

    Draw order (fixed, so a seed pins the batch): image indices, crop offsets, flips, random labels.
    """
    info = dataset_info(dataset)
    mean, std = _norm_stats(info, normalization)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(images)
    if n < batch_size:
        raise DataNotFoundError(
            what=f"{batch_size} {dataset} training images (found {n} in {images.source})",
            looked_in=[images.source],
            fix=f"use batch_size <= {n} or provide more images ({_FIX[dataset]})",
        )
    if images.x.shape[1:] != (info.input_size, info.input_size, 3):
        raise ValueError(f"images from {images.source} are {images.x.shape[1:]}, {dataset} needs "
                         f"({info.input_size}, {info.input_size}, 3)")

    idx = torch.randperm(n, generator=generator)[:batch_size]
    x = torch.from_numpy(images.x[idx.numpy()]).permute(0, 3, 1, 2).to(torch.float32)  # (B,3,H,W), 0..255
    if augment:
        pad, size = info.crop_padding, info.input_size
        offsets = torch.randint(0, 2 * pad + 1, (batch_size, 2), generator=generator)
        flips = torch.rand(batch_size, generator=generator) < 0.5
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), value=0.0)  # zero (black) padding
        ar = torch.arange(size)
        rows = (offsets[:, 0:1] + ar)[:, None, :, None]
        cols = (offsets[:, 1:2] + ar)[:, None, None, :]
        b = torch.arange(batch_size)[:, None, None, None]
        c = torch.arange(3)[None, :, None, None]
        x = padded[b, c, rows, cols]
        x = torch.where(flips[:, None, None, None], x.flip(-1), x)
    x = x / 255.0
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    x = x.to(torch.float32).contiguous()

    if random_labels:
        labels = torch.randint(0, info.num_classes, (batch_size,), generator=generator, dtype=torch.int64)
    else:
        labels = torch.from_numpy(images.y[idx.numpy()].copy()).to(torch.int64)
    return Batch(x=x, labels=labels, source=images.source)


def search_batch(
    variant: str,
    dataset: str,
    *,
    seed: int,
    batch_size: int,
    root: Path,
    images_dir: Path | None = None,
    augment: bool = True,
    normalization: str = "nb201",
) -> Batch:
    """The input batch of one FreeDARTS variant ("D", "labels", "random_labels") on `dataset`.

    "D" ignores `batch_size` and the images (one all-ones image). The others load the training images
    and sample with `torch.Generator().manual_seed(seed)`, leaving the global RNG untouched.
    """
    info = dataset_info(dataset)
    if variant not in VARIANTS:
        raise UnknownNameError("variant", variant, VARIANTS)
    if variant == "D":
        return ones_batch(info.input_size, 1)
    _norm_stats(info, normalization)  # fail on a bad name before touching the disk
    images = load_images(dataset, root, images_dir)
    gen = torch.Generator().manual_seed(int(seed))
    return sample_batch(images, dataset, batch_size, gen, augment=augment, normalization=normalization,
                        random_labels=(variant == "random_labels"))

