"""Token embedding (learned positions for attention models) and label embeddings for class-conditional nets."""

from __future__ import annotations

import torch
from torch import nn


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, dim: int, max_len: int | None = None) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim)
        self.positions = nn.Embedding(max_len, dim) if max_len else None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tokens(tokens)
        if self.positions is not None:
            x = x + self.positions(torch.arange(tokens.shape[1], device=tokens.device))
        return x


class LabelConcat(nn.Module):
    """Appends a learned embedding of each class label to flat features: (B, F), (B,) -> (B, F + dim).

    With `num_classes` 0 (an unconditional net) it adds nothing and `dim` is 0."""

    def __init__(self, num_classes: int = 0, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, dim) if num_classes else None
        self.dim = dim if num_classes else 0

    def forward(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is None:
            return h
        if y is None:
            raise ValueError("a class-conditional net needs the labels y")
        return torch.cat([h, self.embed(y)], -1)
