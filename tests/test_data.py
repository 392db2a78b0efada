"""Tests of minidl.data: datasets, DataLoader, IDX files and checksums, MNIST, synthetic sets.

No test touches the internet: downloads use file:// mirrors in a temporary folder, and the
failure path an address where nothing listens.
"""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl.data import (
    MNIST,
    ChecksumError,
    DataLoader,
    Dataset,
    FashionMNIST,
    Subset,
    TensorDataset,
    default_collate,
    make_circles,
    make_moons,
    make_spirals,
    read_idx,
    sha256sum,
)

SHIPPED_MNIST = Path(__file__).resolve().parents[1] / "data" / "mnist"
UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: nothing listens there


@pytest.fixture(scope="module")
def mnist_train() -> MNIST:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MINIDL_DATA", raising=False)
        return MNIST(train=True)


@pytest.fixture
def mnist_copy(tmp_path: Path) -> Path:
    """A data root in tmp_path whose mnist/ holds copies of the small test-split files."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(SHIPPED_MNIST / name, folder / name)
    return tmp_path


# ----------------------------------------------------------------------------- MNIST
def test_shipped_mnist_train(mnist_train: MNIST) -> None:
    ds = mnist_train
    assert ds.root == SHIPPED_MNIST.parent
    assert len(ds) == 60000
    assert ds.data.shape == (60000, 28, 28) and ds.data.dtype == np.uint8
    assert ds.targets.shape == (60000,) and ds.targets.dtype == np.int64
    assert ds.targets[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(ds.targets).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                               6265, 5851, 5949]
    x = ds.inputs()
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.float32
    assert abs(float(x.mean(dtype=np.float64))) < 1e-3
    assert abs(float(x.std(dtype=np.float64)) - 1) < 1e-3
    assert round(float(ds.data.mean(dtype=np.float64)) / 255, 4) == MNIST.mean
    assert round(float(ds.data.std(dtype=np.float64)) / 255, 4) == MNIST.std


def test_mnist_item_and_batch_agree(mnist_train: MNIST) -> None:
    image, label = mnist_train[0]
    assert isinstance(image, minidl.Tensor) and image.shape == (1, 28, 28)
    assert image.dtype == np.float32 and label == 5 and type(label) is int
    indices = np.array([3, 0, 59999])
    images, labels = mnist_train.__getitems__(indices)
    assert images.shape == (3, 1, 28, 28) and labels.dtype == np.int64
    np.testing.assert_array_equal(images.data[1], image.data)
    np.testing.assert_array_equal(labels.data, mnist_train.targets[indices])
    image.data[...] = 0  # an example is a copy: changing it leaves the dataset intact
    assert mnist_train.inputs()[0].any()
    with pytest.raises(TypeError, match="index must be an integer"):
        mnist_train[0:2]


def test_mnist_test_split_flatten_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    ds = MNIST(train=False, normalize=False, flatten=True)
    assert len(ds) == 10000
    assert np.bincount(ds.targets).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                               974, 1009]
    image, _ = ds[0]
    assert image.shape == (784,)
    assert image.data.min() >= 0 and image.data.max() <= 1
    np.testing.assert_allclose(image.data * 255, ds.data[0].reshape(-1), atol=1e-4)
    assert "split=test" in repr(ds)


def test_fashion_mnist_is_shipped() -> None:
    ds = FashionMNIST(train=False)
    assert len(ds) == 10000 and ds.data.shape == (10000, 28, 28)
    assert np.bincount(ds.targets).tolist() == [1000] * 10
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    train = FashionMNIST(train=True, normalize=False)
    assert np.bincount(train.targets).tolist() == [6000] * 10
    assert round(float(train.data.mean(dtype=np.float64)) / 255, 4) == FashionMNIST.mean
    assert round(float(train.data.std(dtype=np.float64)) / 255, 4) == FashionMNIST.std


def test_missing_files_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError) as info:
        MNIST(root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in message
    for hint in ("download=True", "MINIDL_DATA", "root="):
        assert hint in message
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="MINIDL_DATA variable"):
        MNIST(train=False)


def test_minidl_data_variable_is_used(mnist_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIDL_DATA", str(mnist_copy))
    assert MNIST(train=False).root == mnist_copy


@pytest.mark.parametrize("damage", ["corrupt", "truncate"])
def test_checksum_error(mnist_copy: Path, damage: str) -> None:
    path = mnist_copy / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    if damage == "corrupt":
        raw[len(raw) // 2] ^= 0xFF
    else:
        del raw[len(raw) // 2:]
    path.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError) as info:
        MNIST(root=mnist_copy, train=False)
    err = info.value
    assert err.path == str(path) and err.actual == sha256sum(path)
    assert err.expected == "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    assert str(path) in str(err) and err.expected in str(err) and err.actual in str(err)
    assert isinstance(err, ValueError)


def test_sha256sum_matches_shipped_checksums() -> None:
    lines = (SHIPPED_MNIST.parent / "CHECKSUMS.sha256").read_text().split("\n")
    table = dict(line.split()[::-1] for line in lines if line)
    expected = {f"{cls.folder}/{name}": digest for cls in (MNIST, FashionMNIST)
                for name, digest in cls._sha256.items()}
    assert table == expected  # the file, the files and the library's own table agree
    for rel, digest in table.items():
        assert sha256sum(SHIPPED_MNIST.parent / rel) == digest


# ----------------------------------------------------------------------------- IDX files
def idx_bytes(array: np.ndarray, type_byte: int) -> bytes:
    header = bytes([0, 0, type_byte, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype, type_byte", [("u1", 0x08), ("i1", 0x09), ("i2", 0x0B),
                                              ("i4", 0x0C), ("f4", 0x0D), ("f8", 0x0E)])
@pytest.mark.parametrize("gzipped", [False, True])
def test_read_idx_round_trip(tmp_path: Path, dtype: str, type_byte: int,
                             gzipped: bool) -> None:
    array = (np.arange(24) - 7).astype(dtype).reshape(2, 3, 4)
    raw = idx_bytes(array, type_byte)
    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(raw) if gzipped else raw)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)
    out[0, 0, 0] = 1  # writable, like any array a student makes


def test_read_idx_truncated(tmp_path: Path) -> None:
    raw = idx_bytes(np.zeros((10, 28, 28), np.uint8), 0x08)
    path = tmp_path / "short.idx"
    path.write_bytes(raw[:-100])
    with pytest.raises(ValueError, match=r"short\.idx is truncated.*\(10, 28, 28\)"):
        read_idx(path)
    path.write_bytes(raw[:10])  # cut inside the header
    with pytest.raises(ValueError, match=r"short\.idx is truncated"):
        read_idx(path)
    path.write_bytes(gzip.compress(raw)[:-30])
    with pytest.raises(ValueError, match=r"short\.idx is not a complete gzip file"):
        read_idx(path)


def test_read_idx_bad_header_and_trailing_data(tmp_path: Path) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x00\x00\x07\x01" + bytes(8))
    with pytest.raises(ValueError, match=r"bad\.idx is not an IDX file"):
        read_idx(path)
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8), 0x08) + b"extra")
    with pytest.raises(ValueError, match=r"bad\.idx is corrupt: more data follows"):
        read_idx(path)


# ----------------------------------------------------------------------------- download
def test_download_from_file_mirror(tmp_path: Path) -> None:
    good = tmp_path / "good mirror"
    shutil.copytree(SHIPPED_MNIST, good)
    bad = tmp_path / "bad-mirror"  # serves a corrupted file: must be skipped
    bad.mkdir()
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not the labels")
    root = tmp_path / "root"
    mirrors = [UNREACHABLE, bad.as_uri() + "/", good.as_uri()]
    ds = MNIST(root=root, train=False, download=True, mirrors=mirrors)
    assert len(ds) == 10000 and ds.targets[:3].tolist() == [7, 2, 1]
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(
        p.name for p in SHIPPED_MNIST.glob("*.gz"))  # all four, and no temporary files
    for path in (root / "mnist").iterdir():
        assert sha256sum(path) == sha256sum(SHIPPED_MNIST / path.name)
    # Present files are not fetched again: an unusable mirror list is fine now.
    assert len(MNIST(root=root, train=True, download=True, mirrors=[UNREACHABLE])) == 60000


def test_download_failure_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte.gz").write_bytes(b"junk")
    mirrors = [UNREACHABLE, bad.as_uri()]
    with pytest.raises(RuntimeError) as info:
        FashionMNIST(root=tmp_path / "root", download=True, mirrors=mirrors)
    message = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz from any mirror" in message
    assert UNREACHABLE + "train-images-idx3-ubyte.gz" in message
    assert "checksum mismatch" in message
    assert str(tmp_path / "root" / "fashion-mnist") in message
    assert list((tmp_path / "root" / "fashion-mnist").iterdir()) == []


def test_mirrors_must_be_a_list(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="non-empty list of base URLs"):
        MNIST(root=tmp_path, download=True, mirrors=UNREACHABLE)


# ----------------------------------------------------------------------------- datasets
def test_tensor_dataset() -> None:
    x = minidl.Tensor(np.arange(12.0).reshape(6, 2))
    y = minidl.Tensor(np.arange(6))
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    np.testing.assert_array_equal(xi.data, [8.0, 9.0])
    assert yi.item() == 4
    xb, yb = ds.__getitems__(np.array([5, 1]))
    np.testing.assert_array_equal(yb.data, [5, 1])
    xi.data[0] = -1  # an example is a copy
    assert x.data[4, 0] == 8.0


def test_tensor_dataset_errors() -> None:
    with pytest.raises(ValueError, match=r"\(6, 2\), \(5,\)"):
        TensorDataset(minidl.zeros(6, 2), minidl.zeros(5))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()
    with pytest.raises(TypeError):
        Dataset()


def test_subset_fast_and_per_item_paths() -> None:
    fast = Subset(index_dataset(10), range(3, 8))
    slow = Subset(PointsDataset(10), np.array([9, 0, 4]))
    assert len(fast) == 5 and fast[0][0].item() == 3
    assert [b.data.tolist() for (b,) in DataLoader(fast, batch_size=2)] == [[3, 4], [5, 6], [7]]
    points, parity, _, _ = next(iter(DataLoader(slow, batch_size=3)))
    np.testing.assert_array_equal(points.data[:, 0], [9, 0, 4])
    assert parity.data.tolist() == [1, 0, 0]


def test_subset_errors() -> None:
    with pytest.raises(IndexError, match="index 10 is out of range for a dataset of length 10"):
        Subset(index_dataset(10), [0, 10])
    with pytest.raises(TypeError, match="1-D sequence of integers"):
        Subset(index_dataset(10), [0.5])


# ----------------------------------------------------------------------------- DataLoader
def index_dataset(n: int) -> TensorDataset:
    return TensorDataset(minidl.Tensor(np.arange(n)))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 40), batch_size=st.integers(1, 12), shuffle=st.booleans(),
       drop_last=st.booleans())
def test_loader_batches_cover_each_index_once(n: int, batch_size: int, shuffle: bool,
                                              drop_last: bool) -> None:
    loader = DataLoader(index_dataset(n), batch_size=batch_size, shuffle=shuffle,
                        drop_last=drop_last, generator=np.random.default_rng(0))
    batches = [b.data for (b,) in loader]
    assert len(batches) == len(loader)
    assert all(len(b) == batch_size for b in batches[:-1])
    seen = np.concatenate(batches) if batches else np.array([], np.int64)
    if drop_last:
        assert len(loader) == n // batch_size and len(seen) == len(loader) * batch_size
        assert len(np.unique(seen)) == len(seen)
    else:
        assert len(loader) == -(-n // batch_size)
        assert sorted(seen.tolist()) == list(range(n))
    if not shuffle:
        assert seen.tolist() == list(range(len(seen)))


def test_loader_shuffles_each_epoch_differently() -> None:
    loader = DataLoader(index_dataset(100), batch_size=100, shuffle=True)
    (first,), (second,) = next(iter(loader)), next(iter(loader))
    assert sorted(first.data.tolist()) == sorted(second.data.tolist()) == list(range(100))
    assert first.data.tolist() != second.data.tolist()


def epoch_order(loader: DataLoader) -> list[int]:
    return np.concatenate([b.data for (b,) in loader]).tolist()


def test_loader_reproducible_with_manual_seed() -> None:
    ds = index_dataset(50)
    minidl.manual_seed(123)
    a = DataLoader(ds, batch_size=8, shuffle=True)
    orders_a = [epoch_order(a), epoch_order(a)]
    minidl.manual_seed(123)
    b = DataLoader(ds, batch_size=8, shuffle=True)
    assert [epoch_order(b), epoch_order(b)] == orders_a
    assert orders_a[0] != orders_a[1]


def test_loader_reproducible_with_generator() -> None:
    ds = index_dataset(50)
    a = DataLoader(ds, batch_size=8, shuffle=True, generator=np.random.default_rng(7))
    b = DataLoader(ds, batch_size=8, shuffle=True, generator=np.random.default_rng(7))
    minidl.manual_seed(0)  # the global generator plays no part
    order_a = epoch_order(a)
    minidl.manual_seed(1)
    assert epoch_order(b) == order_a


def test_loader_fast_path_matches_per_item(mnist_train: MNIST) -> None:
    loader = DataLoader(mnist_train, batch_size=128, shuffle=True,
                        generator=np.random.default_rng(0))
    assert len(loader) == 469
    images, labels = next(iter(loader))
    assert images.shape == (128, 1, 28, 28) and images.dtype == np.float32
    assert labels.shape == (128,) and labels.dtype == np.int64
    indices = np.random.default_rng(0).permutation(60000)[:128]
    slow_images, slow_labels = default_collate([mnist_train[int(i)] for i in indices])
    np.testing.assert_array_equal(images.data, slow_images.data)
    np.testing.assert_array_equal(labels.data, slow_labels.data)


class PointsDataset(Dataset):
    """No __getitems__: the loader must fetch and collate example by example."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, index: int) -> tuple[np.ndarray, int, float, minidl.Tensor]:
        return np.full(3, index, np.float64), index % 2, index / 2, minidl.tensor([index])

    def __len__(self) -> int:
        return self.n


def test_loader_per_item_collate() -> None:
    batches = list(DataLoader(PointsDataset(5), batch_size=2))
    assert len(batches) == 3
    points, parity, halves, wrapped = batches[1]
    assert points.shape == (2, 3) and points.dtype == np.float64
    np.testing.assert_array_equal(points.data[:, 0], [2, 3])
    assert parity.dtype == np.int64 and parity.data.tolist() == [0, 1]
    assert halves.dtype == np.float32 and halves.data.tolist() == [1.0, 1.5]
    assert wrapped.shape == (2, 1) and wrapped.dtype == np.int64
    assert batches[2][0].shape == (1, 3)


def test_default_collate_single_values_and_errors() -> None:
    batch = default_collate([minidl.zeros(2, 2), minidl.ones(2, 2)])
    assert isinstance(batch, minidl.Tensor) and batch.shape == (2, 2, 2)
    assert default_collate([np.uint8(1), np.uint8(2)]).dtype == np.int64
    with pytest.raises(ValueError, match=r"different shapes \[\(2,\), \(3,\)\]"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="same number of fields"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(TypeError, match="got str"):
        default_collate([("a", 1), ("b", 2)])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"batch_size": 0}, ValueError, "batch_size must be a positive integer, got 0"),
    ({"batch_size": 2.0}, ValueError, "batch_size must be a positive integer, got 2.0"),
    ({"batch_size": True}, ValueError, "batch_size must be a positive integer"),
    ({"shuffle": "yes"}, TypeError, "shuffle must be True or False, got 'yes'"),
    ({"drop_last": 1}, TypeError, "drop_last must be True or False"),
    ({"generator": 42}, TypeError, "generator must be an np.random.Generator"),
])
def test_loader_argument_errors(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        DataLoader(index_dataset(4), **kwargs)


def test_loader_rejects_non_dataset() -> None:
    with pytest.raises(TypeError, match="must define __getitem__ and __len__, got int"):
        DataLoader(5)


# ----------------------------------------------------------------------------- synthetic
@pytest.mark.parametrize("make, n, n_classes", [
    (lambda **kw: make_spirals(n_samples=301, n_classes=4, **kw), 301, 4),
    (lambda **kw: make_moons(n_samples=201, **kw), 201, 2),
    (lambda **kw: make_circles(n_samples=201, **kw), 201, 2),
])
def test_synthetic_sets(make, n: int, n_classes: int) -> None:
    X, y = make(seed=3)
    assert X.shape == (n, 2) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    counts = np.bincount(y.data)
    assert len(counts) == n_classes and counts.max() - counts.min() <= 1
    X2, y2 = make(seed=3)
    np.testing.assert_array_equal(X.data, X2.data)
    np.testing.assert_array_equal(y.data, y2.data)
    assert not np.array_equal(make(seed=4)[0].data, X.data)
    minidl.manual_seed(11)
    Xa, _ = make()
    minidl.manual_seed(11)
    Xb, _ = make()
    np.testing.assert_array_equal(Xa.data, Xb.data)


def test_synthetic_geometry_without_noise() -> None:
    X, y = make_circles(n_samples=100, noise=0.0, factor=0.3, seed=0)
    radius = np.linalg.norm(X.data, axis=1)
    np.testing.assert_allclose(radius[y.data == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(radius[y.data == 1], 0.3, atol=1e-6)
    X, y = make_spirals(n_samples=90, n_classes=3, noise=0.0, seed=0)
    assert np.linalg.norm(X.data, axis=1).max() <= 1 + 1e-6
    X, y = make_moons(n_samples=100, noise=0.0, seed=0)
    upper = X.data[y.data == 0]
    np.testing.assert_allclose(np.linalg.norm(upper, axis=1), 1.0, atol=1e-6)


def test_synthetic_seed_leaves_global_generator_alone() -> None:
    minidl.manual_seed(5)
    expected = minidl.random.generator().random()
    minidl.manual_seed(5)
    make_moons(seed=1)
    assert minidl.random.generator().random() == expected


def test_synthetic_argument_errors() -> None:
    with pytest.raises(ValueError, match="n_samples must be an integer >= 3"):
        make_spirals(n_samples=2, n_classes=3)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        make_moons(noise=-0.1)
    with pytest.raises(ValueError, match=r"factor must be in \(0, 1\)"):
        make_circles(factor=1.5)
    with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
        make_circles(seed=-1)
