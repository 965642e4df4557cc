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
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks import _safe_pickle
from harness.errors import DataFormatError, DataNotFoundError, UnknownNameError

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


# --------------------------------------------------------------------------------------------------
# Dataset descriptions


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


# --------------------------------------------------------------------------------------------------
# Finding and reading images

_CIFAR10_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_IN16_BATCHES = tuple(f"train_data_batch_{i}" for i in range(1, 11))

_FIX = {
    "cifar10": (
        "extract the official CIFAR-10 python version (cifar-10-python.tar.gz -> cifar-10-batches-py/) "
        "under the data root, put cifar10/cifar10_real5000.npz there, or set HARNESS_DATA / images_dir"
    ),
    "cifar100": (
        "extract the official CIFAR-100 python version (cifar-100-python.tar.gz -> cifar-100-python/) "
        "under the data root, add a cifar100/*.npz with x_train/y_train, or set HARNESS_DATA / images_dir"
    ),
    "imagenet16-120": (
        "put NB201's downsampled ImageNet16 (ImageNet16/train_data_batch_1..10) under the data root, "
        "or set HARNESS_DATA / images_dir"
    ),
    "imagenet": (
        "put ImageNet training images, resized to 224x224, as imagenet/*.npz (x_train uint8 (N,224,224,3), "
        "y_train 0..999) under the data root, or set HARNESS_DATA / images_dir; FreeDARTS-D (variant D) needs no images"
    ),
}

_cache: dict[tuple[str, str, str], ImageSet] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every image set loaded in this process."""
    with _cache_lock:
        _cache.clear()


def _format_error(path: Path, expected: str, dataset: str, detail: str = "") -> DataFormatError:
    detail = " ".join(detail.split())  # keep the message on one line
    why = f" ({detail})" if detail else ""
    return DataFormatError(
        f"{path}: cannot read {dataset} training images{why}; expected {expected}; "
        f"replace it with an intact copy of the official download, or point images_dir / HARNESS_DATA elsewhere"
    )


def _str_keys(d: object, path: Path, expected: str, dataset: str) -> dict:
    if not isinstance(d, dict):
        raise _format_error(path, expected, dataset, f"unpickled a {type(d).__name__}, not a dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}


def _read_pickle(path: Path, expected: str, dataset: str) -> dict:
    # Restricted: an image file is data, so a pickle naming any callable is refused, never run.
    try:
        with open(path, "rb") as f:
            obj = _safe_pickle.load(f, encoding="latin1")
    except Exception as e:  # noqa: BLE001  (any unpickling failure is a format problem)
        raise _format_error(path, expected, dataset, f"{type(e).__name__}: {e}".strip()) from e
    return _str_keys(obj, path, expected, dataset)


def _planes_to_nhwc(data: object, size: int, path: Path, expected: str, dataset: str) -> np.ndarray:
    arr = np.asarray(data)
    if arr.ndim != 2 or arr.shape[1] != 3 * size * size:
        raise _format_error(path, expected, dataset, f"'data' has shape {arr.shape}")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.integer) or arr.size and (arr.min() < 0 or arr.max() > 255):
            raise _format_error(path, expected, dataset, f"'data' has dtype {arr.dtype}")
        arr = arr.astype(np.uint8)
    # Row-major R, G, B planes of size x size -> NHWC.
    return np.ascontiguousarray(arr.reshape(-1, 3, size, size).transpose(0, 2, 3, 1))


def _labels(raw: object, n: int, path: Path, expected: str, dataset: str, key: str) -> np.ndarray:
    try:
        y = np.asarray(raw)
        ok = y.ndim == 1 and y.shape[0] == n and (y.size == 0 or np.issubdtype(y.dtype, np.integer))
    except Exception:  # noqa: BLE001
        ok = False
    if not ok:
        raise _format_error(path, expected, dataset, f"'{key}' is not {n} integer labels")
    return y.astype(np.int64)


def _pickle_field(d: dict, key: str, path: Path, expected: str, dataset: str) -> object:
    if key not in d:
        raise _format_error(path, expected, dataset, f"no '{key}' entry (keys: {', '.join(map(str, d))})")
    return d[key]


def _load_cifar10_dir(directory: Path, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    expected = "CIFAR-10 python pickles data_batch_1..5 (dicts with b'data' (N, 3072) uint8 and b'labels')"
    present = [directory / n for n in _CIFAR10_BATCHES if (directory / n).is_file()]
    if not present:
        raise _format_error(directory, expected, dataset, "no data_batch_* files")
    if len(present) < len(_CIFAR10_BATCHES):
        log.warning("%s: only %d of 5 CIFAR-10 training batches present (%s)", directory, len(present),
                    ", ".join(p.name for p in present))
    xs, ys = [], []
    for p in present:
        d = _read_pickle(p, expected, dataset)
        x = _planes_to_nhwc(_pickle_field(d, "data", p, expected, dataset), 32, p, expected, dataset)
        xs.append(x)
        ys.append(_labels(_pickle_field(d, "labels", p, expected, dataset), len(x), p, expected, dataset, "labels"))
    return np.concatenate(xs), np.concatenate(ys)


def _load_cifar100_dir(directory: Path, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    expected = "CIFAR-100 python pickle 'train' (dict with b'data' (N, 3072) uint8 and b'fine_labels')"
    p = directory / "train"
    if not p.is_file():
        raise _format_error(directory, expected, dataset, "no 'train' file")
    d = _read_pickle(p, expected, dataset)
    x = _planes_to_nhwc(_pickle_field(d, "data", p, expected, dataset), 32, p, expected, dataset)
    y = _labels(_pickle_field(d, "fine_labels", p, expected, dataset), len(x), p, expected, dataset, "fine_labels")
    return x, y


def _load_imagenet16_dir(directory: Path, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    expected = ("NB201 ImageNet16 pickles train_data_batch_1..10 (dicts with 'data' (N, 768) uint8 and "
                "1-based 'labels')")
    present = [directory / n for n in _IN16_BATCHES if (directory / n).is_file()]
    if not present:
        raise _format_error(directory, expected, dataset, "no train_data_batch_* files")
    if len(present) < len(_IN16_BATCHES):
        log.warning("%s: only %d of 10 ImageNet16 training batches present (%s)", directory, len(present),
                    ", ".join(p.name for p in present))
    num = DATASETS[dataset].num_classes
    xs, ys = [], []
    for p in present:
        d = _read_pickle(p, expected, dataset)
        x = _planes_to_nhwc(_pickle_field(d, "data", p, expected, dataset), 16, p, expected, dataset)
        y = _labels(_pickle_field(d, "labels", p, expected, dataset), len(x), p, expected, dataset, "labels")
        keep = (y >= 1) & (y <= num)  # NB201 ImageNet16-120: classes 1..120 of the 1-based 1000
        xs.append(x[keep])
        ys.append(y[keep] - 1)
    return np.concatenate(xs), np.concatenate(ys)


def _load_imagenet_dir(directory: Path, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    raise _format_error(directory, "a .npz with x_train uint8 (N,224,224,3) and y_train 0..999", dataset,
                        "no such .npz (JPEG folders are not read)")


def _npz_has_train(path: Path, dataset: str) -> bool:
    """Whether the npz holds x_train/y_train; unreadable files raise DataFormatError."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return "x_train" in z.files and "y_train" in z.files
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise _format_error(path, "a numpy .npz with x_train (N,H,W,3) uint8 and y_train (N,) int", dataset,
                            f"{type(e).__name__}: {e}") from e


def _load_npz(path: Path, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    size = DATASETS[dataset].input_size
    expected = f"a numpy .npz with x_train ({'N'},{size},{size},3) uint8 NHWC and y_train (N,) int"
    try:
        with np.load(path, allow_pickle=False) as z:
            if "x_train" not in z.files or "y_train" not in z.files:
                only_test = " (it holds only test images)" if "x_test" in z.files else ""
                raise _format_error(path, expected, dataset, f"keys {', '.join(z.files)}{only_test}")
            x, y_raw = z["x_train"], z["y_train"]
    except DataFormatError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise _format_error(path, expected, dataset, f"{type(e).__name__}: {e}") from e
    if x.ndim != 4 or x.shape[1:] != (size, size, 3) or x.dtype != np.uint8:
        raise _format_error(path, expected, dataset, f"x_train is {x.dtype} {x.shape}")
    return np.ascontiguousarray(x), _labels(y_raw, len(x), path, expected, dataset, "y_train")


_Loader = Callable[[Path, str], tuple[np.ndarray, np.ndarray]]
_DIR_LOADERS: dict[str, _Loader] = {
    "cifar10": _load_cifar10_dir,
    "cifar100": _load_cifar100_dir,
    "imagenet16-120": _load_imagenet16_dir,
    "imagenet": _load_imagenet_dir,
}


def _dir_candidates(dataset: str, root: Path) -> list[Path]:
    if dataset == "cifar10":
        return [root / "cifar-10-batches-py", root / "cifar10" / "cifar-10-batches-py"]
    if dataset == "cifar100":
        return [root / "cifar-100-python", root / "cifar100" / "cifar-100-python"]
    if dataset == "imagenet":
        return []  # only preprocessed npz files (below)
    return [root / "ImageNet16", root / "imagenet16-120" / "ImageNet16", root / "imagenet16"]


def _npz_train_files(directory: Path, dataset: str, pattern: str = "*.npz") -> tuple[list[Path], list[Path]]:
    """(npz files in `directory` with training images, npz files there without them), sorted."""
    if not directory.is_dir():
        return [], []
    train, other = [], []
    for p in sorted(directory.glob(pattern)):
        if p.is_file():
            (train if _npz_has_train(p, dataset) else other).append(p)
    return train, other


def _locate(dataset: str, root: Path, images_dir: Path | None) -> tuple[str, Path]:
    """Find the training images: ("dir", path) for official pickles or ("npz", path)."""
    looked: list[Path] = []
    test_only: list[Path] = []
    dir_markers = {"cifar10": _CIFAR10_BATCHES, "cifar100": ("train",), "imagenet16-120": _IN16_BATCHES, "imagenet": ()}

    if images_dir is not None:
        d = Path(images_dir).expanduser()
        looked.append(d)
        if d.is_file():
            if d.suffix != ".npz":
                raise _format_error(d, "a directory of official pickles or a .npz with x_train/y_train", dataset)
            return "npz", d
        if d.is_dir():
            if any((d / name).is_file() for name in dir_markers[dataset]):
                return "dir", d
            train, other = _npz_train_files(d, dataset)
            if train:
                return "npz", train[0]
            test_only.extend(other)
            if not other:
                # Present but holds nothing we recognise: say what the directory should contain.
                _DIR_LOADERS[dataset](d, dataset)  # raises DataFormatError
    else:
        for d in _dir_candidates(dataset, root):
            looked.append(d)
            if d.is_dir():
                return "dir", d  # present: any problem inside is a format error, never a fall-through
        if dataset == "cifar10":
            p = root / "cifar10" / "cifar10_real5000.npz"
            looked.append(p)
            if p.is_file():
                return "npz", p
        elif dataset == "cifar100":
            looked.append(root / "cifar100" / "*.npz")
            train, other = _npz_train_files(root / "cifar100", dataset)
            if train:
                if len(train) > 1:
                    log.info("several CIFAR-100 npz with training images; using %s", train[0])
                return "npz", train[0]
            test_only.extend(other)
        elif dataset == "imagenet":
            looked.append(root / "imagenet" / "*.npz")
            train, other = _npz_train_files(root / "imagenet", dataset)
            if train:
                return "npz", train[0]
            test_only.extend(other)

    fix = _FIX[dataset]
    if test_only:
        fix = f"only test images (no x_train/y_train) were found in {', '.join(map(str, test_only))}; " + fix
    raise DataNotFoundError(what=f"{dataset} training images", looked_in=looked, fix=fix)


def load_images(dataset: str, root: Path, images_dir: Path | None = None) -> ImageSet:
    """The training images of `dataset` found under `root` (or only in `images_dir`), cached per process."""
    info = dataset_info(dataset)
    kind, path = _locate(dataset, Path(root).expanduser(), images_dir)
    key = (dataset, kind, str(path.resolve()))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    x, y = _load_npz(path, dataset) if kind == "npz" else _DIR_LOADERS[dataset](path, dataset)
    if len(y) and (y.min() < 0 or y.max() >= info.num_classes):
        raise _format_error(path, f"labels in 0..{info.num_classes - 1}", dataset,
                            f"labels span {int(y.min())}..{int(y.max())}")
    x.setflags(write=False)
    y.setflags(write=False)
    images = ImageSet(x=x, y=y, source=str(path))
    log.info("loaded %d %s training images from %s", len(images), dataset, path)
    with _cache_lock:
        images = _cache.setdefault(key, images)
    return images


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
