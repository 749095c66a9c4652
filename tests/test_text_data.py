"""Text data: the default corpus is split by book; training windows start at random, seeded offsets inside one
document; validation and test windows are fixed."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from lab.data.text import TextDataModule, bible_books


def _windows(data: TextDataModule) -> torch.Tensor:
    return torch.cat([batch[0] for batch in data.train_dataloader()])


def _documents(tmp_path) -> TextDataModule:
    """A module over four fake documents whose characters tell which document they come from."""
    docs = {"a": "a" * 50 + "A" * 50, "b": "b" * 70, "c": "c" * 30, "d": "d" * 5}
    data = TextDataModule(seq_len=9, batch_size=7, windows_per_epoch=40, val_fraction=0.0, test_fraction=0.0)
    data.corpus = lambda: docs
    data.setup()
    return data


def test_default_corpus_is_split_by_book():
    data = TextDataModule()
    data.setup()
    books = bible_books()
    assert len(books) == 66 and 4_000_000 < sum(map(len, books.values())) < 4_300_000
    splits = {name: set(docs) for name, docs in data.documents.items()}
    assert set(splits) == {"train", "val", "test"}
    assert splits["train"] | splits["val"] | splits["test"] == set(books)
    assert not (splits["train"] & splits["val"] or splits["train"] & splits["test"] or splits["val"] & splits["test"])
    for name in ("val", "test"):  # each about a tenth of the characters
        share = sum(len(books[b]) for b in splits[name]) / sum(map(len, books.values()))
        assert 0.08 < share < 0.12, (name, share)
        windows = data.splits[name].all()
        assert torch.equal(windows[0], data.splits[name].tokens[:129])  # fixed, non-overlapping, from the start
        assert torch.equal(windows[1], data.splits[name].tokens[128:257])
    assert len(data.vocab) == 63 and data.vocab.startswith("\n !")


def test_single_file_is_split_by_position_into_train_val_test(tmp_path):
    text = "".join(chr(ord("a") + (i * 7) % 26) for i in range(2000))
    (tmp_path / "c.txt").write_text(text)
    data = TextDataModule(path=str(tmp_path / "c.txt"), seq_len=16, val_fraction=0.1, test_fraction=0.05)
    data.setup()
    decode = lambda window: "".join(data.vocab[i] for i in window.tolist())  # noqa: E731
    assert decode(data.splits["val"][0][0]) == text[1700:1717]
    assert decode(data.splits["test"][0][0]) == text[1900:1917]
    assert len(data.splits["test"]) == (100 - 1) // 16
    no_test = TextDataModule(path=str(tmp_path / "c.txt"), seq_len=16, test_fraction=0.0)
    no_test.setup()
    assert set(no_test.splits) == {"train", "val"} and decode(no_test.splits["val"][0][0]) == text[1800:1817]


def test_training_windows_lie_inside_one_document(tmp_path):
    data = _documents(tmp_path)
    windows = _windows(data)
    assert windows.shape == (40, 10)
    letters = {data.vocab[i].lower() for window in windows for i in window.tolist()}
    assert letters <= set("abc")  # "d" is shorter than a window
    for window in windows:
        assert len({data.vocab[i].lower() for i in window.tolist()}) == 1
    starts = data.splits["train"].starts
    assert len(starts) == (100 - 9) + (70 - 9) + (30 - 9)  # every offset at which a whole window fits


def test_epochs_draw_new_windows_and_a_seed_repeats_them(tmp_path):
    data = _documents(tmp_path)
    pl.seed_everything(3, verbose=False)
    first, second = _windows(data), _windows(data)
    assert not torch.equal(first, second)
    pl.seed_everything(3, verbose=False)
    assert torch.equal(_windows(data), first) and torch.equal(_windows(data), second)
    assert len(set(data.train_dataloader().sampler)) > 20  # 40 draws from 182 offsets: mostly distinct


def test_epoch_length_defaults_to_one_pass(tmp_path):
    (tmp_path / "t.txt").write_text("the cat sat on the mat. " * 60)
    data = TextDataModule(path=str(tmp_path / "t.txt"), seq_len=32, batch_size=16)
    data.setup()
    assert data.epoch_windows() == (1440 - 144 - 144) // 32
    assert len(data.train_dataloader()) == 3
