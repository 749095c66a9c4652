"""A GPT-style decoder-only transformer language-model body with a key/value cache.

Built as GPT-2 is: pre-norm blocks, learned positions, N(0, 0.02) initialisation with the residual projections
scaled by 1/sqrt(2 x layers), token embedding and output layer sharing one weight, dropout on the embeddings,
the attention weights and each residual branch, and optionally no biases in the linear and layer-norm layers.

`forward(tokens, state) -> (logits, state)`, the interface of RecurrentLM. The state is a `KVCache`: the window of
tokens the net has read and, per layer, their keys and values, so a new token costs one position's work. The
window holds at most `context` tokens; a call that would overflow it keeps the last `context // 2` tokens (or all
the new ones, if more) and recomputes their keys and values, since learned positions make a shifted window's keys
different. With `cache=False` the state keeps only the tokens and every call recomputes over the same window, so
the two modes return the same logits.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class KVCache(NamedTuple):
    """The window of tokens read (the next token sits at position `window`) and, per layer, buffers of shape
    (batch, heads, >= window, head_dim) whose first `window` positions hold its keys and values (None: recompute
    each call). A call writes its keys and values into the buffers in place, past the window it was given: an
    older state stays valid, but continuing from one overwrites what later states read."""

    tokens: torch.Tensor
    keys: tuple[torch.Tensor, ...] | None
    values: tuple[torch.Tensor, ...] | None

    @property
    def position(self) -> int:
        return self.tokens.shape[1]


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, bias: bool) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor, int] | None = None):
        """Attend from the new positions `x` (batch, new, dim) to the first `start` positions of the `past` key and
        value buffers and to themselves; returns the output and the buffers with the new keys/values written in."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        dropout = self.dropout if self.training else 0.0
        if past is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
            return self._out(y), (k, v)
        keys, values, start = past
        if keys.shape[2] < start + t:
            keys, values = _grow(keys, start, start + t), _grow(values, start, start + t)
        keys[:, :, start:start + t], values[:, :, start:start + t] = k, v
        keys_seen, values_seen = keys[:, :, :start + t], values[:, :, :start + t]
        # scaled_dot_product_attention's causal mask is aligned top-left; new query i sits at start + i
        mask = torch.ones(t, start + t, dtype=torch.bool, device=x.device).tril(start)
        y = F.scaled_dot_product_attention(q, keys_seen, values_seen, attn_mask=mask, dropout_p=dropout)
        return self._out(y), (keys, values)

    def _out(self, y: torch.Tensor) -> torch.Tensor:
        b, h, t, hd = y.shape
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(b, t, h * hd)))


def _grow(buffer: torch.Tensor, valid: int, needed: int) -> torch.Tensor:
    """A buffer of at least `needed` positions (twice as many, so growth is rare) holding `buffer[:, :, :valid]`."""
    b, h, _, hd = buffer.shape
    grown = buffer.new_empty(b, h, max(needed, 2 * valid), hd)
    grown[:, :, :valid] = buffer[:, :, :valid]
    return grown


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, bias: bool) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, bias=bias), nn.LayerNorm(dim, bias=bias)
        self.attn = CausalSelfAttention(dim, heads, dropout, bias)
        self.fc = nn.Linear(dim, 4 * dim, bias=bias)
        self.proj = nn.Linear(4 * dim, dim, bias=bias)
        self.resid_drop = nn.Dropout(dropout)

    def decode_one(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, position: int) -> torch.Tensor:
        """`forward` in eval mode for one new position per sequence, x of shape (batch, dim), whose key and value
        go into the buffers at `position` (they must be long enough)."""
        attn, norm1, norm2 = self.attn, self.norm1, self.norm2
        b, d = x.shape
        h = F.layer_norm(x, (d,), norm1.weight, norm1.bias, norm1.eps)
        q, k, v = F.linear(h, attn.qkv.weight, attn.qkv.bias).view(b, 3, attn.heads, 1, d // attn.heads).unbind(1)
        keys[:, :, position:position + 1], values[:, :, position:position + 1] = k, v
        y = F.scaled_dot_product_attention(q, keys[:, :, :position + 1], values[:, :, :position + 1])
        x = x + F.linear(y.view(b, d), attn.proj.weight, attn.proj.bias)
        h = F.layer_norm(x, (d,), norm2.weight, norm2.bias, norm2.eps)
        return x + F.linear(F.gelu(F.linear(h, self.fc.weight, self.fc.bias), approximate="tanh"),
                            self.proj.weight, self.proj.bias)

    def forward(self, x: torch.Tensor, past=None):
        a, kv = self.attn(self.norm1(x), past)
        x = x + a
        return x + self.resid_drop(self.proj(F.gelu(self.fc(self.norm2(x)), approximate="tanh"))), kv


class CausalTransformer(nn.Module):
    """Token and position embeddings -> `num_layers` blocks -> layer norm -> logits through the embedding matrix."""

    def __init__(self, vocab_size: int, dim: int = 128, heads: int = 4, num_layers: int = 4, context: int = 256,
                 dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.context = context
        self.tokens = nn.Embedding(vocab_size, dim)
        self.positions = nn.Embedding(context, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout, bias) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim, bias=bias)
        self.head = nn.Linear(dim, vocab_size, bias=False)
        self.head.weight = self.tokens.weight
        self.apply(_init_gpt2)
        for block in self.blocks:
            for proj in (block.attn.proj, block.proj):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * num_layers))

    def forward(self, tokens: torch.Tensor, state: KVCache | None = None, cache: bool = True):
        """Logits for the new `tokens` (batch, new) that stay in the window, and the state after them.
        `cache` applies when `state` is None; a given state keeps the mode it was made with."""
        if state is None:
            state = KVCache(tokens[:, :0], () if cache else None, () if cache else None)
        window = torch.cat([state.tokens, tokens], 1)
        past = state.position
        if window.shape[1] > self.context:
            window = window[:, -max(min(tokens.shape[1], self.context), self.context // 2):]
            past = 0
        kept = min(tokens.shape[1], window.shape[1])  # the new tokens still in the window
        if state.keys is None:  # recompute over the whole window
            x, _, _ = self._run(window, 0, None)
            return self._logits(x[:, -kept:]), KVCache(window, None, None)
        if past and tokens.shape[1] == 1 and not self.training:
            keys, values = state.keys, state.values
            if keys[0].shape[2] <= past:
                keys, values = (tuple(_grow(buffer, past, past + 1) for buffer in kv) for kv in (keys, values))
            return self._decode_one(tokens, past, keys, values), KVCache(window, keys, values)
        layers = zip(state.keys, state.values, [past] * len(self.blocks)) if past else None
        x, keys, values = self._run(window[:, past:], past, layers)
        return self._logits(x[:, -kept:]), KVCache(window, keys, values)

    def _decode_one(self, token: torch.Tensor, position: int, keys, values) -> torch.Tensor:
        """Logits for one new token at `position` after cached keys and values: `_run` + `_logits` for a single
        position in eval mode, written with functional calls. A decoded token costs about 60 small ops, so the
        module calls, dropout calls and reshapes of the general path would be a large part of its time."""
        x = self.tokens.weight[token[:, 0]] + self.positions.weight[position]  # (batch, dim)
        for block, layer_keys, layer_values in zip(self.blocks, keys, values):
            x = block.decode_one(x, layer_keys, layer_values, position)
        return F.linear(F.layer_norm(x, x.shape[-1:], self.norm.weight, self.norm.bias, self.norm.eps),
                        self.head.weight)[:, None]

    def _run(self, tokens: torch.Tensor, start: int, past):
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        x = self.drop(self.tokens(tokens) + self.positions(positions))
        past = list(past) if past is not None else [None] * len(self.blocks)
        keys, values = [], []
        for block, layer_past in zip(self.blocks, past):
            x, (k, v) = block(x, layer_past)
            keys.append(k)
            values.append(v)
        return x, tuple(keys), tuple(values)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(x))


def _init_gpt2(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
