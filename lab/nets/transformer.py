"""A small causal self-attention (decoder-only transformer) language-model body, pre-norm, GPT-style."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lab.nets.embedding import TokenEmbedding


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CausalTransformer(nn.Module):
    """`forward(tokens, state) -> (logits, state)`, the same interface as RecurrentLM.

    The state is the token history (at most `context` tokens): attention recomputes over it at each call, so
    sampling one token at a time works like a recurrent net's, and position t only ever sees tokens <= t.
    """

    def __init__(self, vocab_size: int, dim: int = 128, heads: int = 4, num_layers: int = 2, context: int = 256,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.context = context
        self.embed = TokenEmbedding(vocab_size, dim, max_len=context)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(dim, heads, dropout) for _ in range(num_layers)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor | None = None):
        new = tokens.shape[1]
        history = tokens if state is None else torch.cat([state, tokens], dim=1)
        history = history[:, -self.context:]
        x = self.blocks(self.drop(self.embed(history)))
        logits = self.head(self.norm(x[:, -min(new, history.shape[1]):]))
        return logits, history
