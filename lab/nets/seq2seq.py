"""Encoder-decoders for character-level translation: GRUs with additive (Bahdanau) attention or without, and a
small transformer.

Every net has the same three calls, which teacher forcing, greedy and beam decoding share:
- `start(src, src_lengths) -> state`: encode the padded source (batch, S) once;
- `step(tokens, state) -> (logits (batch, V), state, weights (batch, S) or None)`: one output token;
- `forward(src, src_lengths, tgt_in) -> (logits (batch, T, V), weights (batch, T, S) or None)`: teacher forcing.
A state is a dict of batch-first tensors, so a beam reorders it row by row. `weights` is where the decoder
looked in the source for each output token (None without attention). Index 0 is padding in both vocabularies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD = 0


class GRUSeq2Seq(nn.Module):
    """Bidirectional GRU encoder; GRU decoder that reads a context vector at every step.

    With `attention`, the context is the encoder outputs weighted by an additive score
    v . tanh(W_k h_i + W_q s_{t-1}) (Bahdanau, Cho and Bengio 2015), recomputed for every output token. Without it,
    the context is the encoder's two final states, the same at every step (Cho et al. 2014): the whole source
    squeezed into one vector.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embed_dim: int = 32, hidden_size: int = 64,
                 attention_size: int = 64, attention: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.attention = attention
        self.src_embed = nn.Embedding(src_vocab_size, embed_dim, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, embed_dim, padding_idx=PAD)
        self.encoder = nn.GRU(embed_dim, hidden_size, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden_size, hidden_size)
        if attention:
            self.key = nn.Linear(2 * hidden_size, attention_size, bias=False)
            self.query = nn.Linear(hidden_size, attention_size)
            self.score = nn.Linear(attention_size, 1, bias=False)
        self.cell = nn.GRUCell(embed_dim + 2 * hidden_size, hidden_size)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size + 2 * hidden_size + embed_dim, tgt_vocab_size)

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        packed = pack_padded_sequence(self.drop(self.src_embed(src)), src_lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        outputs, final = self.encoder(packed)
        memory, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.shape[1])
        summary = torch.cat([final[0], final[1]], dim=-1)  # forward direction's last state, backward's first
        state = {"hidden": torch.tanh(self.bridge(summary))}
        if self.attention:
            state.update(memory=memory, keys=self.key(memory), mask=src != PAD)
        else:
            state["context"] = summary
        return state

    def _attend(self, state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        energy = self.score(torch.tanh(state["keys"] + self.query(state["hidden"])[:, None])).squeeze(-1)
        weights = F.softmax(energy.masked_fill(~state["mask"], float("-inf")), dim=-1)
        return torch.bmm(weights[:, None], state["memory"]).squeeze(1), weights

    def step(self, tokens: torch.Tensor, state: dict[str, torch.Tensor]):
        embedded = self.drop(self.tgt_embed(tokens))
        if self.attention:
            context, weights = self._attend(state)
        else:
            context, weights = state["context"], None
        hidden = self.cell(torch.cat([embedded, context], dim=-1), state["hidden"])
        logits = self.out(self.drop(torch.cat([hidden, context, embedded], dim=-1)))
        return logits, {**state, "hidden": hidden}, weights

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor):
        state = self.start(src, src_lengths)
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            step_logits, state, step_weights = self.step(tgt_in[:, t], state)
            logits.append(step_logits)
            weights.append(step_weights)
        return torch.stack(logits, dim=1), torch.stack(weights, dim=1) if self.attention else None


class TransformerSeq2Seq(nn.Module):
    """A small pre-norm encoder-decoder transformer (torch.nn's layers) with learned positions.

    Decoding one token reruns the decoder over the output so far (outputs here are a dozen tokens long); the
    weights returned are the last decoder layer's cross-attention, averaged over heads.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, dim: int = 64, heads: int = 4,
                 encoder_layers: int = 2, decoder_layers: int = 2, ff_dim: int = 128, dropout: float = 0.1,
                 max_len: int = 64) -> None:
        super().__init__()
        self.dim, self.max_len = dim, max_len
        self.src_embed = nn.Embedding(src_vocab_size, dim, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, dim, padding_idx=PAD)
        self.src_pos = nn.Embedding(max_len, dim)
        self.tgt_pos = nn.Embedding(max_len, dim)
        layer = dict(d_model=dim, nhead=heads, dim_feedforward=ff_dim, dropout=dropout, batch_first=True,
                     norm_first=True)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), encoder_layers, nn.LayerNorm(dim),
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), decoder_layers, nn.LayerNorm(dim))
        self.head = nn.Linear(dim, tgt_vocab_size)
        self._weights: list[torch.Tensor] | None = None
        self.decoder.layers[-1].multihead_attn.register_forward_hook(self._keep_weights, with_kwargs=True)

    def _keep_weights(self, module, args, kwargs, output) -> None:
        # The decoder layer asks its cross-attention for no weights; recompute them when the caller wants them.
        if self._weights is not None:
            weights = module.forward(*args, **{**kwargs, "need_weights": True, "average_attn_weights": True})[1]
            self._weights.append(weights)

    def _embed(self, tokens: torch.Tensor, embed: nn.Embedding, pos: nn.Embedding) -> torch.Tensor:
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence of {tokens.shape[1]} tokens is longer than max_len={self.max_len}")
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        return embed(tokens) + pos(positions)

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = src == PAD
        memory = self.encoder(self._embed(src, self.src_embed, self.src_pos), src_key_padding_mask=mask)
        return {"memory": memory, "pad": mask, "prefix": src.new_zeros((len(src), 0))}

    def _decode(self, tgt_in: torch.Tensor, state: dict[str, torch.Tensor], weights: bool):
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1], device=tgt_in.device)
        self._weights = [] if weights else None
        try:
            x = self.decoder(self._embed(tgt_in, self.tgt_embed, self.tgt_pos), state["memory"], tgt_mask=causal,
                             tgt_is_causal=True, memory_key_padding_mask=state["pad"])
            return self.head(x), (self._weights[-1] if weights else None)
        finally:
            self._weights = None

    def step(self, tokens: torch.Tensor, state: dict[str, torch.Tensor]):
        prefix = torch.cat([state["prefix"], tokens[:, None]], dim=1)
        logits, weights = self._decode(prefix, state, weights=not torch.is_grad_enabled())
        return logits[:, -1], {**state, "prefix": prefix}, None if weights is None else weights[:, -1]

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor):
        return self._decode(tgt_in, self.start(src, src_lengths), weights=not torch.is_grad_enabled())
