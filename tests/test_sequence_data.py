"""Sequence data and inputs: clear errors for bad corpora, windows, prompts and CSV columns; train-only statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.data.series import SeriesDataModule
from lab.data.text import TextDataModule
from lab.errors import LabError
from lab.models.language_model import LanguageModel
from lab.nets.rnn import RecurrentLM


def test_empty_corpus(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(LabError, match=r"empty\.txt is empty"):
        TextDataModule(path=str(tmp_path / "empty.txt")).setup()


def test_non_utf8_corpus(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    with pytest.raises(LabError, match=r"latin1\.txt is not UTF-8 \(byte 3: b'\\xe9'\)"):
        TextDataModule(path=str(tmp_path / "latin1.txt")).setup()


def test_missing_corpus(tmp_path):
    with pytest.raises(LabError, match="does not exist; set data.path"):
        TextDataModule(path=str(tmp_path / "nope.txt")).setup()


def test_sequence_longer_than_the_data(tmp_path):
    (tmp_path / "short.txt").write_text("abcdefghij" * 30)
    with pytest.raises(LabError, match=r"data.seq_len=64 is longer than the val part of the corpus \(30 of 300"):
        TextDataModule(path=str(tmp_path / "short.txt"), seq_len=64).setup()


def test_vocabulary_larger_than_the_model(tmp_path):
    (tmp_path / "wide.txt").write_text("".join(chr(0x4E00 + i) for i in range(300)) * 3)
    with pytest.raises(LabError, match="300 distinct characters but data.vocab_size=256; set data.vocab_size=300"):
        TextDataModule(path=str(tmp_path / "wide.txt"), seq_len=8).setup()


def test_contiguous_split_and_vocabulary(tmp_path):
    text = "".join(chr(ord("a") + (i * 7) % 26) for i in range(2000))
    (tmp_path / "c.txt").write_text(text)
    data = TextDataModule(path=str(tmp_path / "c.txt"), seq_len=16, val_fraction=0.1, test_fraction=0.0)
    data.setup()
    assert data.vocab == "abcdefghijklmnopqrstuvwxyz"
    val = data.splits["val"].all()
    decoded = "".join(data.vocab[i] for i in val[0].tolist())
    assert decoded == text[1800:1817]  # validation = the last 10%, in order


def test_prompt_outside_the_vocabulary():
    model = LanguageModel(RecurrentLM(8, 4, 8), vocab_size=8, optimizer=torch.optim.Adam)
    model.set_vocab("abc def")
    with pytest.raises(LabError, match=r"2 character\(s\) not in the model's vocabulary: 'xé'"):
        model.generate("a xé", length=5)
    text = model.generate("abc", length=20, temperature=1.0, top_k=3, generator=torch.Generator().manual_seed(0))
    assert len(text) == 23 and set(text) <= set("abc def")


def test_csv_column_that_does_not_exist(tmp_path):
    (tmp_path / "s.csv").write_text("date,price\n" + "".join(f"2020-01-{i:02d},{i}\n" for i in range(1, 29)))
    with pytest.raises(LabError, match="has no column 'prce'; set data.column to one of: date, price"):
        SeriesDataModule(path=str(tmp_path / "s.csv"), column="prce").setup()


def test_csv_column_and_train_only_statistics(tmp_path):
    values = np.arange(100, dtype=np.float32)
    (tmp_path / "s.csv").write_text("t,v\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    data = SeriesDataModule(path=str(tmp_path / "s.csv"), column="v", window=5, val_fraction=0.2, test_fraction=0.2)
    data.setup()
    assert data.mean == pytest.approx(values[:60].mean())
    assert data.std == pytest.approx(float(torch.from_numpy(values[:60]).std()))
    x, y = data.splits["test"].tensors
    assert len(y) == 20  # every test value is a target exactly once; inputs reach back into val
    assert float(y[0, 0]) * data.std + data.mean == pytest.approx(80.0)


def test_window_longer_than_the_series():
    with pytest.raises(LabError, match=r"window 400 \+ horizon 1 = 401 values is longer than the train part"):
        SeriesDataModule(length=500, window=400).setup()


def test_stock_series_loads():
    data = SeriesDataModule(series="goog", column="adj_close", window=20)
    data.setup()
    total = sum(len(split) for split in data.splits.values())
    assert total == 1047 - 20
