"""Sequence nets: output shapes of every cell type, depth and direction; causality; stateful continuation."""

from __future__ import annotations

import pytest
import torch

from lab.nets.rnn import Recurrent, RecurrentLM, SequenceEncoder
from lab.nets.transformer import CausalTransformer


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_shapes(cell, num_layers, bidirectional):
    torch.manual_seed(0)
    directions = 2 if bidirectional else 1
    net = Recurrent(5, hidden_size=7, num_layers=num_layers, cell=cell, dropout=0.1, bidirectional=bidirectional)
    outputs, state = net(torch.randn(3, 11, 5))
    assert outputs.shape == (3, 11, 7 * directions)
    hidden = state[0] if cell == "lstm" else state
    assert hidden.shape == (num_layers * directions, 3, 7)
    if cell == "lstm":
        assert state[1].shape == hidden.shape
    encoder = SequenceEncoder(28, 10, hidden_size=7, num_layers=num_layers, cell=cell, bidirectional=bidirectional)
    assert encoder(torch.randn(4, 1, 28, 28)).shape == (4, 10)


def test_unknown_cell_is_rejected():
    with pytest.raises(ValueError, match="cell must be one of"):
        Recurrent(3, cell="transformer")


def test_bidirectional_encoder_reads_both_ends():
    torch.manual_seed(0)
    encoder = SequenceEncoder(4, 2, hidden_size=6, bidirectional=True).eval()
    x = torch.randn(1, 9, 4)
    changed = x.clone()
    changed[:, 0] += 1.0  # the first step reaches the output through both directions
    base = encoder(x)
    assert not torch.allclose(base, encoder(changed))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_recurrent_lm_state_continues_the_sequence(cell):
    torch.manual_seed(0)
    net = RecurrentLM(20, embed_dim=8, hidden_size=16, num_layers=2, cell=cell).eval()
    tokens = torch.randint(0, 20, (2, 12))
    whole, _ = net(tokens)
    first, state = net(tokens[:, :5])
    rest, _ = net(tokens[:, 5:], state)
    assert whole.shape == (2, 12, 20)
    torch.testing.assert_close(torch.cat([first, rest], 1), whole)


def test_causal_transformer_cannot_see_the_future():
    torch.manual_seed(0)
    net = CausalTransformer(30, dim=32, heads=4, num_layers=2, context=16).eval()
    tokens = torch.randint(0, 30, (2, 16))
    changed = tokens.clone()
    changed[:, 10] = (changed[:, 10] + 1) % 30
    before, _ = net(tokens)
    after, _ = net(changed)
    assert before.shape == (2, 16, 30)
    torch.testing.assert_close(before[:, :10], after[:, :10])
    assert not torch.allclose(before[:, 10:], after[:, 10:])


def test_causal_transformer_one_token_at_a_time_matches_whole_sequence():
    torch.manual_seed(0)
    net = CausalTransformer(30, dim=32, heads=4, num_layers=2, context=16).eval()
    tokens = torch.randint(0, 30, (1, 8))
    whole, _ = net(tokens)
    state, steps = None, []
    for t in range(8):
        logits, state = net(tokens[:, t:t + 1], state)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, 1), whole, atol=1e-5, rtol=1e-4)
