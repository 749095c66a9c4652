"""GAE(lambda) and discounted returns against hand-computed values: episodes that terminate and ones truncated."""

from __future__ import annotations

import pytest
import torch

from lab.rl.advantages import discounted_returns, gae

GAMMA, LAM = 0.9, 0.8
REWARDS = torch.tensor([[1.0], [1.0], [1.0]])
VALUES = torch.tensor([[0.5], [0.6], [0.7]])
NO = torch.tensor([[False], [False], [False]])
AT_1 = torch.tensor([[False], [True], [False]])


def test_gae_terminated_episode_cuts_the_bootstrap():
    next_values = torch.tensor([[0.6], [123.0], [0.8]])  # the value after a true end must be ignored
    adv, ret = gae(REWARDS, VALUES, next_values, AT_1, NO, GAMMA, LAM)
    # d0 = 1 + .9*.6 - .5 = 1.04; d1 = 1 - .6 = .4; d2 = 1 + .9*.8 - .7 = 1.02; A0 = d0 + .72*d1
    assert adv[:, 0].tolist() == pytest.approx([1.328, 0.4, 1.02])
    assert ret[:, 0].tolist() == pytest.approx([1.828, 1.0, 1.72])


def test_gae_truncated_episode_bootstraps_from_final_observation():
    next_values = torch.tensor([[0.6], [2.0], [0.8]])  # V(final obs) = 2.0
    adv, _ = gae(REWARDS, VALUES, next_values, NO, AT_1, GAMMA, LAM)
    # d1 = 1 + .9*2 - .6 = 2.2, but A1 does not continue into the next episode's A2
    assert adv[:, 0].tolist() == pytest.approx([1.04 + 0.72 * 2.2, 2.2, 1.02])


def test_gae_without_episode_end_bootstraps_at_rollout_end():
    next_values = torch.tensor([[0.6], [0.7], [0.8]])
    adv, _ = gae(REWARDS, VALUES, next_values, NO, NO, GAMMA, 1.0)
    # lambda = 1: A_t = sum of discounted deltas = G_t - V_t with G bootstrapped from 0.8
    g2 = 1 + 0.9 * 0.8
    g1 = 1 + 0.9 * g2
    g0 = 1 + 0.9 * g1
    assert adv[:, 0].tolist() == pytest.approx([g0 - 0.5, g1 - 0.6, g2 - 0.7])


def test_discounted_returns_terminated_and_truncated():
    next_values = torch.tensor([[0.6], [2.0], [0.8]])
    terminated = discounted_returns(REWARDS, next_values, AT_1, NO, GAMMA)
    assert terminated[:, 0].tolist() == pytest.approx([1.9, 1.0, 1.72])
    truncated = discounted_returns(REWARDS, next_values, NO, AT_1, GAMMA)
    assert truncated[:, 0].tolist() == pytest.approx([1 + 0.9 * 2.8, 2.8, 1.72])


def test_gae_lambda_one_equals_discounted_returns_on_random_rollouts():
    torch.manual_seed(0)
    t, n = 50, 6
    rewards, values, next_values = torch.randn(t, n), torch.randn(t, n), torch.randn(t, n)
    terminated, truncated = torch.rand(t, n) < 0.1, torch.rand(t, n) < 0.05
    # within an episode the next value is the next step's value; only at episode ends does it differ
    done = terminated | truncated
    next_values[:-1] = torch.where(done[:-1], next_values[:-1], values[1:])
    _, returns = gae(rewards, values, next_values, terminated, truncated, 0.97, 1.0)
    expected = discounted_returns(rewards, next_values, terminated, truncated, 0.97)
    assert torch.allclose(returns, expected, atol=1e-5)
