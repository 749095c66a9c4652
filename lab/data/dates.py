"""Dates written the ways people write them, paired with their ISO form: a translation task generated in-process.

"Thursday, March 3, 1994", "3rd of March, 1994", "03/03/1994" (day first), ... -> "1994-03-03", for any day of
the years `year_min`..`year_max`. The calendar's days are shuffled with the seed and cut into test, validation
and training dates, so a held-out date never appears in training in any surface form. Each example draws its
surface form at random.

Characters become indices with three special tokens in front (PAD, BOS, EOS = 0, 1, 2); a vocabulary is the
string of characters that take indices 3, 4, ... The model keeps both vocabularies in buffers, so a checkpoint
translates without this module's data.
"""

from __future__ import annotations

import datetime
import random
from typing import Sequence

import torch
from torch.utils.data import TensorDataset

from lab.data.arrays import SplitDataModule
from lab.errors import LabError

PAD, BOS, EOS = 0, 1, 2
SPECIALS = 3

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def ordinal(day: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 23 -> '23rd'."""
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


FORMS = {
    "day_month_year": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "month_day_year": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "weekday_month_day_year": lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
    "ordinal_of_month": lambda d: f"{ordinal(d.day)} of {MONTHS[d.month - 1]}, {d.year}",
    "numeric_day_first": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    "day_abbreviated_month": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "year_month_day": lambda d: f"{d.year}/{d.month}/{d.day}",
    "lowercase_month_day_year": lambda d: f"{MONTHS[d.month - 1].lower()} {d.day} {d.year}",
}

SOURCE_VOCAB = "".join(sorted(set("".join(MONTHS + WEEKDAYS).lower() + "".join(MONTHS + WEEKDAYS)
                                  + "0123456789 ,/" + "stndrhof")))
TARGET_VOCAB = "-0123456789"


def write(date: datetime.date, form: str) -> str:
    """`date` in the named surface form (a key of FORMS)."""
    return FORMS[form](date)


def encode(texts: Sequence[str], vocab: str, bos: bool = False, eos: bool = False,
           length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts -> (indices (N, L) padded with PAD, lengths (N,)); BOS/EOS added on request. A character outside
    `vocab` is a LabError naming it."""
    index = {char: SPECIALS + i for i, char in enumerate(vocab)}
    unknown = sorted({char for text in texts for char in text} - index.keys())
    if unknown:
        raise LabError(f"characters {''.join(unknown)!r} are not in the vocabulary {vocab!r}")
    rows = [[BOS] * bos + [index[char] for char in text] + [EOS] * eos for text in texts]
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
    width = max([length or 0, *lengths.tolist(), 1])
    tokens = torch.full((len(rows), width), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        tokens[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return tokens, lengths


def decode(indices: Sequence[int], vocab: str) -> str:
    """Indices -> text, up to the first EOS; PAD and BOS are dropped."""
    chars = []
    for i in indices:
        if i == EOS:
            break
        if i >= SPECIALS and i - SPECIALS < len(vocab):
            chars.append(vocab[i - SPECIALS])
    return "".join(chars)


def split_dates(year_min: int, year_max: int, sizes: Sequence[int], seed: int) -> list[list[datetime.date]]:
    """Distinct calendar days of the years, shuffled with `seed` and cut into consecutive parts of `sizes`
    (a size of None takes all that are left)."""
    first = datetime.date(year_min, 1, 1).toordinal()
    days = datetime.date(year_max, 12, 31).toordinal() - first + 1
    known = sum(size for size in sizes if size is not None)
    if known > days:
        raise LabError(f"the years {year_min}-{year_max} have {days} days, fewer than the {known} requested")
    order = torch.randperm(days, generator=torch.Generator().manual_seed(seed)).tolist()
    parts, start = [], 0
    for size in sizes:
        stop = days if size is None else start + size
        parts.append([datetime.date.fromordinal(first + i) for i in order[start:stop]])
        start = stop
    return parts


class DatesDataModule(SplitDataModule):
    """Pairs (written date, ISO date) as tensors (source, source length, target): test and validation dates
    first out of the shuffled calendar, `train_size` training examples from the days left."""

    def __init__(self, train_size: int = 20000, val_size: int = 1000, test_size: int = 1000, year_min: int = 1000,
                 year_max: int = 2999, forms: Sequence[str] | None = None, src_vocab_size: int = 64,
                 tgt_vocab_size: int = 16, batch_size: int = 64, eval_batch_size: int = 1000, seed: int = 0,
                 num_workers: int = 0) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers)
        if not 1 <= year_min <= year_max <= 9999:
            raise LabError(f"data.year_min={year_min} and data.year_max={year_max} must satisfy "
                           "1 <= year_min <= year_max <= 9999")
        self.forms = list(forms) if forms else list(FORMS)
        unknown = sorted(set(self.forms) - FORMS.keys())
        if unknown:
            raise LabError(f"unknown date form(s) {unknown}; known: {', '.join(FORMS)}")
        for name, vocab, slots in (("src", SOURCE_VOCAB, src_vocab_size), ("tgt", TARGET_VOCAB, tgt_vocab_size)):
            if SPECIALS + len(vocab) > slots:
                raise LabError(f"data.{name}_vocab_size={slots} is too small for {len(vocab)} characters and "
                               f"{SPECIALS} special tokens; set it to at least {SPECIALS + len(vocab)}")
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.year_min, self.year_max, self.seed = year_min, year_max, seed
        self.src_vocab, self.tgt_vocab = SOURCE_VOCAB, TARGET_VOCAB
        self.texts: dict[str, tuple[list[str], list[str]]] = {}
        self.dates: dict[str, list[datetime.date]] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        test, val, rest = split_dates(self.year_min, self.year_max,
                                      [self.sizes["test"], self.sizes["val"], None], self.seed)
        rng = random.Random(self.seed)
        if self.sizes["train"] > len(rest):
            raise LabError(f"data.train_size={self.sizes['train']} exceeds the {len(rest)} days left for training")
        self.dates = {"train": rng.sample(rest, self.sizes["train"]), "val": val, "test": test}
        for name, dates in self.dates.items():
            sources = [write(date, rng.choice(self.forms)) for date in dates]
            targets = [date.isoformat() for date in dates]
            self.texts[name] = (sources, targets)
            src, src_lengths = encode(sources, self.src_vocab)
            tgt, _ = encode(targets, self.tgt_vocab, bos=True, eos=True)
            self.splits[name] = TensorDataset(src, src_lengths, tgt)
