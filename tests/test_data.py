import gzip
import shutil

import pytest
import torch

import fmnist
from fmnist import data
from fmnist.data import CLASSES, DataFormatError, DataNotFoundError


def test_classes_are_the_reference_names():
    assert CLASSES == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                       "Bag", "Ankle boot")
    assert fmnist.CLASSES is CLASSES


def test_real_dataset_counts_and_label_balance(dataset):
    assert dataset.train_images.shape == (60_000, 28, 28) and dataset.train_images.dtype == torch.uint8
    assert dataset.test_images.shape == (10_000, 28, 28)
    # Zalando's published composition: 6,000 training and 1,000 test images per class
    assert dataset.train_labels.bincount().tolist() == [6000] * 10
    assert dataset.test_labels.bincount().tolist() == [1000] * 10
    # the first test label in Zalando's file is an ankle boot, the first training label too
    assert dataset.test_labels[0] == 9 and dataset.train_labels[0] == 9


def test_split_is_stratified_disjoint_and_seeded(dataset):
    s = fmnist.make_split(dataset, val_size=5000, seed=3)
    assert len(s.val_labels) == 5000 and len(s.train_labels) == 55_000
    assert s.val_labels.bincount().tolist() == [500] * 10
    s2 = fmnist.make_split(dataset, val_size=5000, seed=3)
    assert torch.equal(s.val_images, s2.val_images)
    train_idx, val_idx = data.stratified_split(dataset.train_labels, 5000, 3)
    assert len(set(train_idx.tolist()) & set(val_idx.tolist())) == 0
    limited = fmnist.make_split(dataset, limit=2000)
    assert len(limited.train_labels) == 2000 and limited.train_labels.bincount().tolist() == [200] * 10


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("FMNIST_DATA", raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "nope")
    monkeypatch.setattr(data, "DEFAULT_CACHE", tmp_path / "cache")
    with pytest.raises(DataNotFoundError) as e:
        data.load_fashion_mnist(download=False)
    assert "apt-get install dataset-fashion-mnist" in str(e.value)
    assert "FMNIST_DATA" in str(e.value)


def _copy_data(dataset, folder):
    folder.mkdir()
    for stem in data.FILES.values():
        src = data._find_file(data.DEBIAN_DIR, stem) or data._find_file(data.DEFAULT_CACHE / "FashionMNIST" / "raw", stem)
        shutil.copy(src, folder / src.name)
    return folder


def test_env_variable_and_truncated_file(dataset, tmp_path, monkeypatch):
    folder = _copy_data(dataset, tmp_path / "fm")
    monkeypatch.setenv("FMNIST_DATA", str(folder))
    assert data.load_fashion_mnist().source == str(folder)
    # cut the test labels short: a clear error naming the file
    path = data._find_file(folder, data.FILES["test_labels"])
    with gzip.open(path, "rb") as f:
        raw = f.read()
    with gzip.open(path, "wb") as f:
        f.write(raw[:5000])
    with pytest.raises(DataFormatError, match="t10k-labels"):
        data.load_fashion_mnist()
    # a file that is not IDX at all
    path.write_bytes(b"hello, not a dataset")
    with pytest.raises(DataFormatError):
        data.load_fashion_mnist()


def test_to_float_range_and_shape(dataset):
    x = data.to_float(dataset.test_images[:5])
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
