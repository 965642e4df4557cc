"""Finding and reading a dataset's training images (official pickles, NB201's ImageNet16, staged .npz).

`load_images(dataset, root, images_dir=None) -> ImageSet` (cached per process); where each
dataset is looked for is listed in `harness.data`'s docstring. Pickles go through the project's
one restricted unpickler (`benchmarks._safe_pickle`).
"""

from __future__ import annotations

import logging
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks import _safe_pickle
from harness.datasets import DATASETS, ImageSet, dataset_info
from harness.errors import DataFormatError, DataNotFoundError

log = logging.getLogger(__name__)

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


def _present_batches(directory: Path, names: tuple[str, ...], expected: str, dataset: str) -> list[Path]:
    """The training batch files of `names` in `directory`: none is an error, some a warning."""
    present = [directory / n for n in names if (directory / n).is_file()]
    if not present:
        raise _format_error(directory, expected, dataset, f"no {names[0].rsplit('_', 1)[0]}_* files")
    if len(present) < len(names):
        log.warning("%s: only %d of %d %s training batches present (%s)", directory, len(present), len(names),
                    dataset, ", ".join(p.name for p in present))
    return present


def _load_cifar10_dir(directory: Path, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    expected = "CIFAR-10 python pickles data_batch_1..5 (dicts with b'data' (N, 3072) uint8 and b'labels')"
    present = _present_batches(directory, _CIFAR10_BATCHES, expected, dataset)
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
    present = _present_batches(directory, _IN16_BATCHES, expected, dataset)
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
