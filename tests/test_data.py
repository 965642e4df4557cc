"""harness.data: locating/reading training images, sampling batches, the three variants' inputs."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from harness import data
from harness.data import (
    DATASETS,
    NORMALIZATIONS,
    Batch,
    ImageSet,
    load_images,
    ones_batch,
    sample_batch,
    search_batch,
)
from harness.errors import DataFormatError, DataNotFoundError

CIFAR10_TRAIN_COUNTS = [396, 366, 420, 384, 422, 393, 414, 385, 407, 413]


@pytest.fixture(autouse=True)
def _fresh_cache():
    data.clear_cache()
    yield
    data.clear_cache()


@pytest.fixture(scope="module")
def cifar10_real(data_root: Path) -> ImageSet:
    return load_images("cifar10", data_root)


def _planes(n: int, size: int, rgb=(255, 0, 0)) -> np.ndarray:
    """(n, 3*size*size) uint8 rows of R, G, B planes, each plane constant."""
    hw = size * size
    row = np.concatenate([np.full(hw, v, np.uint8) for v in rgb])
    return np.tile(row, (n, 1))


def _write_pickle(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)


# ---------------------------------------------------------------------------------------------- metadata


def test_dataset_table():
    assert set(DATASETS) == {"cifar10", "cifar100", "imagenet16-120", "imagenet"}
    assert (DATASETS["imagenet"].input_size, DATASETS["imagenet"].num_classes) == (224, 1000)
    assert (DATASETS["cifar10"].input_size, DATASETS["cifar10"].num_classes) == (32, 10)
    assert (DATASETS["cifar100"].input_size, DATASETS["cifar100"].num_classes) == (32, 100)
    assert (DATASETS["imagenet16-120"].input_size, DATASETS["imagenet16-120"].num_classes) == (16, 120)
    assert DATASETS["cifar10"].crop_padding == 4 and DATASETS["imagenet16-120"].crop_padding == 2
    assert DATASETS["imagenet16-120"].benchmark_name == "ImageNet16-120"
    assert DATASETS["cifar10"].mean == pytest.approx((125.3 / 255, 123.0 / 255, 113.9 / 255))
    assert DATASETS["cifar100"].std == pytest.approx((68.2 / 255, 65.4 / 255, 70.4 / 255))
    assert NORMALIZATIONS == ("nb201", "darts")


def test_imagenet_labelled_batches_need_npz_images_and_d_needs_none(tmp_path):
    assert search_batch("D", "imagenet", seed=0, batch_size=1, root=tmp_path).x.shape == (1, 3, 224, 224)
    with pytest.raises(DataNotFoundError, match=r"imagenet training images not found; looked in: .*imagenet/\*\.npz"):
        search_batch("labels", "imagenet", seed=0, batch_size=2, root=tmp_path)
    rng = np.random.default_rng(0)
    (tmp_path / "imagenet").mkdir()
    np.savez(tmp_path / "imagenet" / "in224.npz", x_train=rng.integers(0, 255, (3, 224, 224, 3), dtype=np.uint8),
             y_train=np.array([0, 999, 5]))
    batch = search_batch("labels", "imagenet", seed=0, batch_size=2, root=tmp_path)
    assert batch.x.shape == (2, 3, 224, 224) and set(batch.labels.tolist()) <= {0, 999, 5}


def test_ones_batch():
    b = ones_batch(32)
    assert isinstance(b, Batch)
    assert b.x.shape == (1, 3, 32, 32) and b.x.dtype == torch.float32
    assert torch.all(b.x == 1) and b.labels is None and b.source == "all-ones"
    assert ones_batch(16, 4).x.shape == (4, 3, 16, 16)


def test_variant_d_ignores_data(tmp_path: Path):
    # No images anywhere under tmp_path: D must not look for any.
    b = search_batch("D", "imagenet16-120", seed=0, batch_size=64, root=tmp_path)
    assert b.x.shape == (1, 3, 16, 16) and torch.all(b.x == 1) and b.labels is None


def test_unknown_names_raise_value_error(cifar10_real: ImageSet, data_root: Path):
    with pytest.raises(ValueError, match="labels, random_labels"):
        search_batch("DD", "cifar10", seed=0, batch_size=8, root=data_root)
    with pytest.raises(ValueError, match="darts, nb201"):
        sample_batch(cifar10_real, "cifar10", 8, torch.Generator().manual_seed(0), normalization="imagenet")
    with pytest.raises(ValueError, match="imagenet16-120"):
        search_batch("labels", "cifar-10", seed=0, batch_size=8, root=data_root)


# ---------------------------------------------------------------------------------------------- real data


def test_real_cifar10_npz(cifar10_real: ImageSet):
    assert cifar10_real.x.shape == (4000, 32, 32, 3) and cifar10_real.x.dtype == np.uint8
    assert cifar10_real.y.dtype == np.int64
    assert np.bincount(cifar10_real.y, minlength=10).tolist() == CIFAR10_TRAIN_COUNTS
    assert cifar10_real.source.endswith("cifar10_real5000.npz")
    assert not cifar10_real.x.flags.writeable


def test_load_is_cached(data_root: Path):
    assert load_images("cifar10", data_root) is load_images("cifar10", data_root)


def test_real_batch_shape_and_normalisation(cifar10_real: ImageSet):
    b = sample_batch(cifar10_real, "cifar10", 64, torch.Generator().manual_seed(0), augment=False)
    assert b.x.shape == (64, 3, 32, 32) and b.x.dtype == torch.float32
    assert b.labels is not None and b.labels.dtype == torch.int64 and b.labels.shape == (64,)
    assert torch.all(b.x.mean(dim=(0, 2, 3)).abs() < 0.3)
    assert torch.all((b.x.std(dim=(0, 2, 3)) - 1).abs() < 0.3)
    d = sample_batch(cifar10_real, "cifar10", 64, torch.Generator().manual_seed(0), augment=False,
                     normalization="darts")
    assert torch.all(d.x.mean(dim=(0, 2, 3)).abs() < 0.3)
    assert torch.equal(b.labels, d.labels) and not torch.equal(b.x, d.x)


def test_labels_match_images(cifar10_real: ImageSet):
    b = sample_batch(cifar10_real, "cifar10", 16, torch.Generator().manual_seed(3), augment=False)
    info = DATASETS["cifar10"]
    raw = (b.x * torch.tensor(info.std).view(1, 3, 1, 1) + torch.tensor(info.mean).view(1, 3, 1, 1)) * 255
    raw = raw.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for img, label in zip(raw, b.labels.tolist()):
        matches = np.flatnonzero((cifar10_real.x == img).all(axis=(1, 2, 3)))
        assert len(matches) >= 1 and label in cifar10_real.y[matches]


def test_search_batch_is_deterministic(data_root: Path):
    state = torch.random.get_rng_state()
    a = search_batch("labels", "cifar10", seed=1, batch_size=64, root=data_root)
    b = search_batch("labels", "cifar10", seed=1, batch_size=64, root=data_root)
    c = search_batch("labels", "cifar10", seed=2, batch_size=64, root=data_root)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    assert torch.equal(a.x, b.x) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.x, c.x)
    assert a.x.shape == (64, 3, 32, 32) and "cifar10_real5000.npz" in a.source


def test_augmentation_pads_with_zero_and_flips(cifar10_real: ImageSet):
    g = torch.Generator().manual_seed(0)
    aug = sample_batch(cifar10_real, "cifar10", 256, g, augment=True)
    info = DATASETS["cifar10"]
    zero_pixel = (-torch.tensor(info.mean) / torch.tensor(info.std)).view(1, 3, 1, 1)
    is_pad = torch.isclose(aug.x, zero_pixel.expand_as(aug.x), atol=1e-5).all(dim=1)  # (B,H,W)
    # Some images were shifted: a whole border row/column of padding.
    assert is_pad.all(dim=2).any() and is_pad.all(dim=1).any()
    # Same seed with augment=False gives the same images/labels (indices are drawn first).
    plain = sample_batch(cifar10_real, "cifar10", 256, torch.Generator().manual_seed(0), augment=False)
    assert torch.equal(aug.labels, plain.labels) and not torch.equal(aug.x, plain.x)


def test_random_labels(data_root: Path):
    true = search_batch("labels", "cifar10", seed=5, batch_size=64, root=data_root)
    rand = search_batch("random_labels", "cifar10", seed=5, batch_size=64, root=data_root)
    assert torch.equal(true.x, rand.x)  # same real images
    assert rand.labels.dtype == torch.int64 and rand.labels.shape == (64,)
    assert int(rand.labels.min()) >= 0 and int(rand.labels.max()) < 10
    assert not torch.equal(true.labels, rand.labels)
    assert (true.labels != rand.labels).sum() > 32


def test_too_few_images_for_batch(cifar10_real: ImageSet):
    small = ImageSet(x=cifar10_real.x[:10], y=cifar10_real.y[:10], source="ten-images")
    with pytest.raises(DataNotFoundError, match=r"64 cifar10 training images \(found 10 in ten-images\)"):
        sample_batch(small, "cifar10", 64, torch.Generator().manual_seed(0))


# ---------------------------------------------------------------------------------------------- official formats


def test_official_cifar10_pickles(tmp_path: Path):
    d = tmp_path / "cifar-10-batches-py"
    rows = _planes(6, 32, (255, 0, 0))
    rows[1] = _planes(1, 32, (0, 255, 0))[0]
    rows[2, 0] = 7  # R at (h=0, w=0)
    rows[2, 1] = 9  # R at (h=0, w=1)
    rows[2, 32] = 11  # R at (h=1, w=0)
    _write_pickle(d / "data_batch_1", {b"batch_label": b"x", b"data": rows, b"labels": [0, 1, 2, 3, 4, 5]})
    _write_pickle(d / "data_batch_2", {b"data": _planes(2, 32, (0, 0, 255)), b"labels": [8, 9]})
    imgs = load_images("cifar10", tmp_path)
    assert imgs.x.shape == (8, 32, 32, 3) and imgs.y.tolist() == [0, 1, 2, 3, 4, 5, 8, 9]
    assert imgs.x[0, 5, 5].tolist() == [255, 0, 0]
    assert imgs.x[1, 5, 5].tolist() == [0, 255, 0]
    assert imgs.x[7, 5, 5].tolist() == [0, 0, 255]
    assert (imgs.x[2, 0, 0, 0], imgs.x[2, 0, 1, 0], imgs.x[2, 1, 0, 0]) == (7, 9, 11)
    assert imgs.source == str(d)
    b = sample_batch(imgs, "cifar10", 8, torch.Generator().manual_seed(0), augment=False)
    red = b.labels == 0
    # The all-red image: channel 0 at max, channels 1, 2 at min after normalisation.
    info = DATASETS["cifar10"]
    assert b.x[red][0, 0, 0, 0] == pytest.approx((1 - info.mean[0]) / info.std[0], rel=1e-5)
    assert b.x[red][0, 1, 0, 0] == pytest.approx(-info.mean[1] / info.std[1], rel=1e-5)


def test_official_cifar10_under_cifar10_folder_wins_over_npz(tmp_path: Path):
    _write_pickle(tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_1",
                  {b"data": _planes(3, 32), b"labels": [1, 2, 3]})
    np.savez(tmp_path / "cifar10" / "cifar10_real5000.npz", x_train=np.zeros((5, 32, 32, 3), np.uint8),
             y_train=np.zeros(5, np.int64))
    assert len(load_images("cifar10", tmp_path)) == 3


def test_official_cifar100_pickle(tmp_path: Path):
    d = tmp_path / "cifar100" / "cifar-100-python"
    _write_pickle(d / "train", {b"data": _planes(4, 32, (255, 0, 0)), b"fine_labels": [0, 50, 99, 7],
                                b"coarse_labels": [0, 1, 2, 3]})
    imgs = load_images("cifar100", tmp_path)
    assert imgs.x.shape == (4, 32, 32, 3) and imgs.y.tolist() == [0, 50, 99, 7]
    assert imgs.x[0, 31, 31].tolist() == [255, 0, 0]
    b = search_batch("random_labels", "cifar100", seed=0, batch_size=4, root=tmp_path)
    assert b.x.shape == (4, 3, 32, 32) and int(b.labels.max()) < 100


def test_cifar100_npz_with_train_keys(tmp_path: Path):
    (tmp_path / "cifar100").mkdir()
    np.savez(tmp_path / "cifar100" / "a_test.npz", x_test=np.zeros((3, 32, 32, 3), np.uint8))
    np.savez(tmp_path / "cifar100" / "b_train.npz", x_train=np.full((5, 32, 32, 3), 9, np.uint8),
             y_train=np.arange(5))
    imgs = load_images("cifar100", tmp_path)
    assert len(imgs) == 5 and imgs.source.endswith("b_train.npz")


def test_imagenet16_pickles_and_label_mapping(tmp_path: Path):
    d = tmp_path / "imagenet16-120" / "ImageNet16"
    rows = _planes(6, 16, (255, 0, 0))
    rows[3] = _planes(1, 16, (0, 0, 255))[0]
    _write_pickle(d / "train_data_batch_1", {"data": rows, "labels": [1, 120, 121, 60, 1000, 2], "mean": None})
    _write_pickle(d / "train_data_batch_2", {"data": _planes(2, 16, (0, 255, 0)), "labels": [500, 3]})
    imgs = load_images("imagenet16-120", tmp_path)
    assert imgs.y.tolist() == [0, 119, 59, 1, 2]  # 121, 1000, 500 dropped; 1-based -> 0-based
    assert imgs.x.shape == (5, 16, 16, 3)
    assert imgs.x[0, 3, 3].tolist() == [255, 0, 0]
    assert imgs.x[2, 3, 3].tolist() == [0, 0, 255]  # label 60's image
    assert imgs.x[4, 3, 3].tolist() == [0, 255, 0]
    b = search_batch("labels", "imagenet16-120", seed=0, batch_size=5, root=tmp_path)
    assert b.x.shape == (5, 3, 16, 16) and sorted(b.labels.tolist()) == [0, 1, 2, 59, 119]


def test_images_dir_is_the_only_place(tmp_path: Path, data_root: Path):
    d = tmp_path / "mine"
    _write_pickle(d / "data_batch_1", {b"data": _planes(2, 32), b"labels": [4, 5]})
    assert load_images("cifar10", data_root, images_dir=d).y.tolist() == [4, 5]
    with pytest.raises(DataNotFoundError) as e:
        load_images("cifar10", data_root, images_dir=tmp_path / "nowhere")
    assert e.value.looked_in == [str(tmp_path / "nowhere")]
    npz = data_root / "cifar10" / "cifar10_real5000.npz"
    assert len(load_images("cifar10", tmp_path, images_dir=npz)) == 4000


# ---------------------------------------------------------------------------------------------- failures


def test_cifar100_only_foolbox_test_images(data_root: Path):
    with pytest.raises(DataNotFoundError) as e:
        load_images("cifar100", data_root)
    msg = str(e.value)
    assert "cifar100 training images not found" in msg
    for p in ("cifar-100-python", str(Path("cifar100") / "cifar-100-python"), str(Path("cifar100") / "*.npz")):
        assert p in msg
    assert "only test images" in msg and "cifar100_foolbox20.npz" in msg
    assert e.value.looked_in and all(str(data_root) in p for p in e.value.looked_in)


def test_imagenet16_absent(data_root: Path):
    with pytest.raises(DataNotFoundError) as e:
        search_batch("labels", "imagenet16-120", seed=0, batch_size=64, root=data_root)
    msg = str(e.value)
    assert "imagenet16-120 training images not found" in msg
    assert str(data_root / "ImageNet16") in msg and str(data_root / "imagenet16") in msg
    assert "HARNESS_DATA" in msg


def test_corrupt_pickle(tmp_path: Path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    (d / "data_batch_1").write_bytes(b"this is not a pickle")
    with pytest.raises(DataFormatError) as e:
        load_images("cifar10", tmp_path)
    msg = str(e.value)
    assert str(d / "data_batch_1") in msg and "data_batch_1..5" in msg and "\n" not in msg


def test_wrong_shaped_pickle(tmp_path: Path):
    _write_pickle(tmp_path / "ImageNet16" / "train_data_batch_1",
                  {"data": np.zeros((2, 3072), np.uint8), "labels": [1, 2]})
    with pytest.raises(DataFormatError, match=r"train_data_batch_1.*shape \(2, 3072\)"):
        load_images("imagenet16-120", tmp_path)


def test_present_but_empty_dir(tmp_path: Path):
    (tmp_path / "cifar-100-python").mkdir()
    with pytest.raises(DataFormatError, match="cifar-100-python.*'train'"):
        load_images("cifar100", tmp_path)


def test_corrupt_npz(tmp_path: Path):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar10_real5000.npz").write_bytes(b"PK garbage")
    with pytest.raises(DataFormatError, match="cifar10_real5000.npz"):
        load_images("cifar10", tmp_path)


def test_wrong_shaped_npz(tmp_path: Path):
    (tmp_path / "cifar10").mkdir()
    np.savez(tmp_path / "cifar10" / "cifar10_real5000.npz", x_train=np.zeros((5, 3, 32, 32), np.uint8),
             y_train=np.zeros(5, np.int64))
    with pytest.raises(DataFormatError, match=r"x_train is uint8 \(5, 3, 32, 32\)"):
        load_images("cifar10", tmp_path)


def test_too_few_images_via_search_batch(tmp_path: Path):
    _write_pickle(tmp_path / "cifar-10-batches-py" / "data_batch_1", {b"data": _planes(3, 32), b"labels": [1, 2, 3]})
    with pytest.raises(DataNotFoundError, match=r"64 cifar10 training images \(found 3 in"):
        search_batch("labels", "cifar10", seed=0, batch_size=64, root=tmp_path)
