"""Recurrent networks: one module for RNN/LSTM/GRU stacks, a character language-model body, a sequence encoder."""

from __future__ import annotations

import torch
from torch import nn

from lab.nets.embedding import TokenEmbedding

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Recurrent(nn.Module):
    """A stack of `num_layers` recurrent layers of one cell type over (batch, time, input_size) inputs.

    Returns (outputs (batch, time, hidden_size * directions), final state); pass the state back in to continue.
    """

    def __init__(self, input_size: int, hidden_size: int = 128, num_layers: int = 1, cell: str = "lstm",
                 dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.directions = 2 if bidirectional else 1
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        self.output_size = hidden_size * self.directions

    def forward(self, x: torch.Tensor, state=None):
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            # oneDNN has no bf16 LSTM/GRU kernels on CPU: run the recurrence in float32
            with torch.autocast("cpu", enabled=False):
                return self.rnn(x.float(), _as_float(state))
        return self.rnn(x, state)


def _as_float(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.float() for s in state)
    return state.float()


class RecurrentLM(nn.Module):
    """Token embedding -> Recurrent -> logits over the vocabulary; `forward(tokens, state) -> (logits, state)`."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden_size: int = 256, num_layers: int = 1,
                 cell: str = "lstm", dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = TokenEmbedding(vocab_size, embed_dim)
        self.rnn = Recurrent(embed_dim, hidden_size, num_layers, cell, dropout)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens: torch.Tensor, state=None):
        outputs, state = self.rnn(self.embed(tokens), state)
        return self.head(self.drop(outputs)), state


class SequenceEncoder(nn.Module):
    """Reads a sequence of vectors and maps it to `out_features` (class logits, or the next values of a series).

    Inputs of shape (batch, ..., input_size) are read as (batch, time, input_size): an image (B, 1, 28, 28) with
    input_size=28 is read row by row. Bidirectional stacks use the last forward and the first backward output.
    """

    def __init__(self, input_size: int, out_features: int, hidden_size: int = 128, num_layers: int = 1,
                 cell: str = "lstm", dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__()
        self.input_size = input_size
        self.rnn = Recurrent(input_size, hidden_size, num_layers, cell, dropout, bidirectional)
        self.head = nn.Linear(self.rnn.output_size, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(x.reshape(x.shape[0], -1, self.input_size))
        hidden = self.rnn.hidden_size
        summary = outputs[:, -1, :hidden]
        if self.rnn.directions == 2:
            summary = torch.cat([summary, outputs[:, 0, hidden:]], dim=-1)
        return self.head(summary)
