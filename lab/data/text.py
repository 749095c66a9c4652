"""Character-level text: a UTF-8 file or, by default, the source of a few standard-library modules.

The vocabulary is the sorted set of the corpus's characters; it must fit in `vocab_size` slots (the width of the
model's embedding and output layers, so the model can be built from the config alone). The language model copies
the vocabulary into a buffer, so it travels in every checkpoint and generation needs no corpus.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Sequence

import torch
from torch.utils.data import TensorDataset

from lab.data.arrays import SplitDataModule
from lab.errors import LabError

DEFAULT_MODULES = ("argparse", "collections", "textwrap", "json.decoder")


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file; missing, empty and non-UTF-8 files get a LabError."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"text file {path} does not exist; set data.path=... to a UTF-8 text file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LabError(f"text file {path} is not UTF-8 (byte {error.start}: {raw[error.start:error.start + 1]!r}); "
                       "convert it, e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`") from None
    if not text:
        raise LabError(f"text file {path} is empty; a language model needs a corpus to learn from")
    return text


def stdlib_corpus(modules: Sequence[str] = DEFAULT_MODULES) -> str:
    """The concatenated source files of standard-library modules: a corpus every Python installation has."""
    return "\n\n".join(read_text(importlib.import_module(name).__file__) for name in modules)


def encode(text: str, vocab: str) -> torch.Tensor:
    """Characters -> indices into `vocab`; a character outside it is a LabError that names it."""
    index = {char: i for i, char in enumerate(vocab)}
    unknown = sorted(set(text) - index.keys())
    if unknown:
        raise LabError(f"{len(unknown)} character(s) not in the model's vocabulary: "
                       f"{''.join(unknown)!r}; the vocabulary is {vocab!r}")
    return torch.tensor([index[char] for char in text], dtype=torch.long)


class TextDataModule(SplitDataModule):
    """Windows of `seq_len + 1` characters (input and next-character target); the last `val_fraction` is validation."""

    def __init__(self, path: str | None = None, modules: Sequence[str] = DEFAULT_MODULES, seq_len: int = 128,
                 batch_size: int = 64, eval_batch_size: int = 256, val_fraction: float = 0.1,
                 vocab_size: int = 256, num_workers: int = 0) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers)
        self.path, self.modules = path, tuple(modules)
        self.seq_len, self.val_fraction, self.vocab_size = seq_len, val_fraction, vocab_size
        self.vocab: str = ""

    def corpus(self) -> str:
        return read_text(self.path) if self.path else stdlib_corpus(self.modules)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        text = self.corpus()
        vocab = "".join(sorted(set(text)))
        if len(vocab) > self.vocab_size:
            raise LabError(f"the corpus has {len(vocab)} distinct characters but data.vocab_size={self.vocab_size}; "
                           f"set data.vocab_size={len(vocab)} or more")
        data = encode(text, vocab)
        n_val = max(1, int(len(data) * self.val_fraction))
        parts = {"train": data[:-n_val], "val": data[-n_val:]}
        for name, part in parts.items():
            if len(part) < self.seq_len + 1:
                raise LabError(f"data.seq_len={self.seq_len} is longer than the {name} part of the corpus "
                               f"({len(part)} of {len(data)} characters, data.val_fraction={self.val_fraction}); "
                               "lower data.seq_len or use a longer corpus")
            self.splits[name] = TensorDataset(part.unfold(0, self.seq_len + 1, self.seq_len))
        self.vocab = vocab
