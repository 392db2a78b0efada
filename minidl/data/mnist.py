"""MNIST and Fashion-MNIST: reading the official IDX files, checking them, downloading them.

Both datasets come as four gzipped IDX files (train/test images and labels). Every file is
checked against the sha256 digest listed here before it is parsed, so a corrupt or
half-downloaded file is reported, never silently loaded.

Where the files are looked for (the first rule that applies wins):

1. the ``root`` argument;
2. the ``MINIDL_DATA`` environment variable;
3. the ``data/`` folder of the minidl source tree, if it holds the dataset (MNIST ships
   there);
4. ``~/.minidl/data``, where ``download=True`` puts the files by default.

Inside the root, each dataset has its own folder: ``<root>/mnist/``,
``<root>/fashion-mnist/``.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from minidl.data.dataset import Dataset
from minidl.tensor import Tensor

MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
FASHION_MNIST_MIRRORS = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
]

_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz":
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz":
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz":
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}

# minidl/data/mnist.py -> parents[2] is the source tree's top level, which holds data/.
_SHIPPED_ROOT = Path(__file__).resolve().parents[2] / "data"
_DOWNLOAD_TIMEOUT_S = 30

# IDX type byte -> element type. Multi-byte types are stored big-endian.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class ChecksumError(ValueError):
    """A file's sha256 digest is not the expected one (the file is corrupt or incomplete).

    Attributes
    ----------
    path : str
        The file (or URL) that was checked.
    expected, actual : str
        The expected and the computed sha256 digests, in hex.
    """

    def __init__(self, path: str | os.PathLike, expected: str, actual: str,
                 hint: str = "") -> None:
        self.path, self.expected, self.actual = str(path), expected, actual
        super().__init__(
            f"checksum mismatch for {path}: its sha256 is {actual}, expected {expected}"
            + (f". {hint}" if hint else "")
        )


def sha256sum(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The sha256 digest of a file, in hex, read in chunks of ``chunk_size`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or plain) into a NumPy array.

    The IDX format: a 4-byte magic number (two zero bytes, a type byte, the number of
    dimensions), one 4-byte big-endian size per dimension, then the data in row-major
    order. Type bytes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64 (multi-byte types big-endian).

    Parameters
    ----------
    path : str or PathLike
        The file. Gzip compression is recognised from the file's first bytes.

    Returns
    -------
    np.ndarray
        A writable array of the shape and type given by the header (native byte order).

    Raises
    ------
    ValueError
        If the header is not an IDX header, or the data is shorter or longer than the
        header says (a truncated or corrupt file), naming the file.
    """
    path = Path(path)
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            return _parse_idx(f, path)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(
            f"read_idx: {path} is not a complete gzip file ({err}); it is truncated or corrupt"
        ) from err


def _parse_idx(f: BinaryIO, path: Path) -> np.ndarray:
    magic = f.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_DTYPES or magic[3] == 0:
        raise ValueError(
            f"read_idx: {path} is not an IDX file: it starts with bytes {magic.hex(' ')}, "
            f"expected 00 00 <type: 08 09 0b 0c 0d or 0e> <number of dimensions >= 1>"
        )
    dtype, ndim = _IDX_DTYPES[magic[2]], magic[3]
    sizes = f.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise ValueError(
            f"read_idx: {path} is truncated: its header declares {ndim} dimensions but "
            f"ends before all their sizes"
        )
    shape = struct.unpack(f">{ndim}I", sizes)
    buffer = np.empty(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, np.uint8)
    filled = _read_into(f, buffer)
    if filled < buffer.size:
        raise ValueError(
            f"read_idx: {path} is truncated: its header declares shape {shape} of "
            f"{dtype.name} ({buffer.size} bytes of data), but only {filled} bytes follow"
        )
    if f.read(1):
        raise ValueError(
            f"read_idx: {path} is corrupt: more data follows the {buffer.size} bytes that "
            f"its header declares (shape {shape} of {dtype.name})"
        )
    data = buffer.view(dtype).reshape(shape)
    return data if dtype.isnative else data.astype(dtype.newbyteorder("="))


def _read_into(f: BinaryIO, buffer: np.ndarray) -> int:
    """Fill ``buffer`` from ``f``; return how many bytes were read (fewer only at EOF)."""
    view = memoryview(buffer)
    filled = 0
    while filled < len(view):
        n = f.readinto(view[filled:])
        if not n:
            break
        filled += n
    return filled


def _resolve_root(root: str | os.PathLike | None, folder: str) -> tuple[Path, str]:
    """The data root to use, and a phrase saying which rule chose it (for error messages)."""
    if root is not None:
        return Path(root).expanduser(), "the root= argument"
    if os.environ.get("MINIDL_DATA"):
        return Path(os.environ["MINIDL_DATA"]).expanduser(), "the MINIDL_DATA variable"
    if (_SHIPPED_ROOT / folder).is_dir():
        return _SHIPPED_ROOT, "the data/ folder shipped with minidl"
    return Path("~/.minidl/data").expanduser(), "the default download folder"


def _download(name: str, sha256: str, folder: Path, mirrors: list[str], what: str) -> None:
    """Fetch ``folder/name`` from the first mirror that serves it with the right digest."""
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            _fetch(url, folder / name, sha256)
            return
        except (OSError, ValueError, http.client.HTTPException) as err:
            failures.append(f"  {url}: {err}")
    raise RuntimeError(
        f"{what}: could not download {name} from any mirror:\n" + "\n".join(failures)
        + f"\nIf this machine is offline, copy {name} (and any other missing official files) "
        f"by hand into {folder} (or pass root= or set MINIDL_DATA to a folder holding "
        f"{folder.name}/)."
    )


def _fetch(url: str, dest: Path, sha256: str) -> None:
    # Imported here: together they add ~0.1 s to `import minidl`, and only downloads need them.
    import urllib.request

    from tqdm import tqdm

    # Download next to the destination, then rename: a crash or a bad download never
    # leaves a half-written file under the real name.
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=dest.name, disable=None, leave=False) as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if digest.hexdigest() != sha256:
            raise ChecksumError(url, sha256, digest.hexdigest())
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


class MNIST(Dataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28, 0-9.

    Example ``i`` is ``(image, label)``: ``image`` a float32 Tensor of shape (1, 28, 28)
    (or (784,) with ``flatten=True``) with pixels scaled to [0, 1] and, with
    ``normalize=True``, standardised as ``(pixel - mean) / std`` with the training set's
    ``mean`` and ``std`` (class constants); ``label`` an int.

    Parameters
    ----------
    root : str or PathLike, optional
        Folder holding ``mnist/``. Default: ``$MINIDL_DATA``, else the copy shipped in
        minidl's ``data/`` folder, else ``~/.minidl/data`` (see the module docstring).
    train : bool
        The training set (True) or the test set (False).
    download : bool
        Download files that are missing from ``root`` (all four, so both splits work
        offline afterwards). Existing files are never downloaded again.
    normalize : bool
        Standardise the pixels with the training ``mean`` and ``std``.
    flatten : bool
        Give images as vectors of 784 values, ready for an MLP.
    mirrors : list of str, optional
        Base URLs to download from, tried in order. Default: the module-level
        ``MNIST_MIRRORS`` (``FASHION_MNIST_MIRRORS`` for Fashion-MNIST).

    Attributes
    ----------
    data : np.ndarray
        The raw images, uint8 of shape (N, 28, 28).
    targets : np.ndarray
        The labels, int64 of shape (N,).
    classes : list of str
        Class names, indexed by label.

    Raises
    ------
    FileNotFoundError
        If a file is missing and ``download`` is False.
    ChecksumError
        If a file's sha256 is not the official one.
    """

    folder = "mnist"
    mean = 0.1307
    std = 0.3081
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    _sha256 = _MNIST_SHA256
    _default_mirrors = MNIST_MIRRORS

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = False, normalize: bool = True, flatten: bool = False,
                 mirrors: list[str] | None = None) -> None:
        name = type(self).__name__
        if mirrors is None:
            mirrors = self._default_mirrors
        if isinstance(mirrors, str) or not mirrors \
                or not all(isinstance(m, str) for m in mirrors):
            raise TypeError(
                f"{name}: mirrors must be a non-empty list of base URLs, got {mirrors!r}"
            )
        self.root, root_rule = _resolve_root(root, self.folder)
        self.train, self.normalize, self.flatten = bool(train), bool(normalize), bool(flatten)
        folder = self.root / self.folder
        if download:
            folder.mkdir(parents=True, exist_ok=True)
            for file, sha256 in self._sha256.items():
                if not (folder / file).is_file():
                    _download(file, sha256, folder, list(mirrors), name)

        split = "train" if self.train else "t10k"
        images = folder / f"{split}-images-idx3-ubyte.gz"
        labels = folder / f"{split}-labels-idx1-ubyte.gz"
        for path in (images, labels):
            if not path.is_file():
                raise FileNotFoundError(
                    f"{name}: file not found: {path} (data root {self.root}, chosen by "
                    f"{root_rule}). To fix: pass download=True to fetch it, or copy the "
                    f"official files into {folder} (or pass root= or set MINIDL_DATA to a "
                    f"folder holding {self.folder}/)."
                )
            actual = sha256sum(path)
            if actual != self._sha256[path.name]:
                raise ChecksumError(path, self._sha256[path.name], actual,
                                    hint="Delete it and run again with download=True, or "
                                         "copy the official file there.")
        self.data = read_idx(images)
        self.targets = read_idx(labels).astype(np.int64)
        self._inputs: np.ndarray | None = None

    def inputs(self) -> np.ndarray:
        """All images as one float32 array, scaled and normalised as the examples are.

        Built on first use and kept, so that batches are plain fancy indexing.
        """
        if self._inputs is None:
            x = self.data.astype(np.float32)
            x /= np.float32(255)
            if self.normalize:
                x -= np.float32(self.mean)
                x /= np.float32(self.std)
            self._inputs = x.reshape(len(x), -1) if self.flatten else x[:, None]
        return self._inputs

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(
                f"{type(self).__name__}: index must be an integer, got "
                f"{type(index).__name__}; use a DataLoader to get batches"
            )
        # Copy: the example must not be a window into the cached array.
        return Tensor._make(self.inputs()[index].copy()), int(self.targets[index])

    def __getitems__(self, indices: np.ndarray) -> tuple[Tensor, Tensor]:
        return Tensor._make(self.inputs()[indices]), Tensor._make(self.targets[indices])

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(split={'train' if self.train else 'test'}, "
                f"size={len(self)}, root={str(self.root)!r}, normalize={self.normalize}, "
                f"flatten={self.flatten})")


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 greyscale images of clothing, in 10 classes.

    A drop-in replacement for MNIST (same sizes, same file names and layout, same
    parameters, see ``MNIST``), found in ``<root>/fashion-mnist/``; a verified copy is
    shipped in the repository's ``data/`` folder, as MNIST's is. ``mean`` and
    ``std`` are those of its training pixels scaled to [0, 1].
    """

    folder = "fashion-mnist"
    mean = 0.2860
    std = 0.3530
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
    _sha256 = _FASHION_MNIST_SHA256
    _default_mirrors = FASHION_MNIST_MIRRORS
