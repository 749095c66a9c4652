"""Generated data: the four XOR points."""

from __future__ import annotations

import torch

from lab.data.arrays import ArrayDataModule


class XORDataModule(ArrayDataModule):
    """The four points of XOR, repeated `repeats` times per epoch; val and test are the four points."""

    def __init__(self, repeats: int = 64, **kwargs) -> None:
        super().__init__(**kwargs)
        self.repeats = repeats

    def load(self):
        x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        y = torch.tensor([0, 1, 1, 0])
        return {"train": (x.repeat(self.repeats, 1), y.repeat(self.repeats)), "val": (x, y), "test": (x, y)}
