"""Data for the examples, tests and benchmarks: MNIST-format images and character-level text.

NumPy only; nothing here needs the compiler. See :func:`load_mnist` and :func:`load_text`.
"""

from tensorir.datasets.download import FASHION_MNIST, MNIST, RemoteDataset, download_dataset
from tensorir.datasets.mnist import (
    DIGITS,
    MNIST_FILES,
    MNIST_MIRRORS,
    ChecksumError,
    ImageDataset,
    ImageSplit,
    cache_dir,
    default_search_dirs,
    download_fashion_mnist,
    download_file,
    download_mnist,
    load_digits,
    load_digits_28x28,
    load_mnist,
    read_idx,
    read_idx_dir,
    read_mnist_pkl,
)
from tensorir.datasets.text import (
    CharVocabulary,
    TextCorpus,
    load_text,
    sequence_batches,
    split_ids,
    stream_batches,
)

__all__ = [
    "DIGITS",
    "FASHION_MNIST",
    "MNIST",
    "RemoteDataset",
    "download_dataset",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "ChecksumError",
    "CharVocabulary",
    "ImageDataset",
    "ImageSplit",
    "TextCorpus",
    "cache_dir",
    "default_search_dirs",
    "download_file",
    "download_fashion_mnist",
    "download_mnist",
    "load_digits",
    "load_digits_28x28",
    "load_mnist",
    "load_text",
    "read_idx",
    "read_idx_dir",
    "read_mnist_pkl",
    "sequence_batches",
    "split_ids",
    "stream_batches",
]
