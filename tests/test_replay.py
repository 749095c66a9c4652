"""The replay buffer: ring wrap-around, sampling of filled slots only, flags, n-step returns, state dict round trip;
and, through a DQN agent's own collection loop, what reaches the buffer from a next-step-autoreset vector env."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.rl.replay import ReplayBuffer


def step_rows(start: int, n: int = 2):
    """One vector step of `n` envs whose obs encode a running index (obs = [i, i], next_obs = [i + 0.5, ...])."""
    idx = torch.arange(start, start + n, dtype=torch.float32)
    obs = idx[:, None].repeat(1, 2)
    return obs, idx.long(), idx * 10, obs + 0.5, idx % 3 == 0, idx % 3 == 1


def test_ring_wraps_around_and_keeps_the_newest():
    buf = ReplayBuffer(5, (2,), (), torch.int64, num_envs=2)
    for start in range(0, 8, 2):  # 4 vector steps x 2 envs = transitions 0..7 into 5 slots
        buf.add(*step_rows(start))
    assert len(buf) == 5 and buf.added == 8 and buf.pos == 8 % 5
    stored = sorted(buf.storage["obs"][:, 0].tolist())
    assert stored == [3.0, 4.0, 5.0, 6.0, 7.0]  # 0, 1, 2 overwritten
    # every field of a slot belongs to the same transition
    i = buf.storage["obs"][:, 0]
    assert torch.equal(buf.storage["actions"], i.long())
    assert torch.equal(buf.storage["rewards"], i * 10)
    assert torch.equal(buf.storage["next_obs"][:, 0], i + 0.5)
    assert torch.equal(buf.storage["terminated"], i.long() % 3 == 0)
    assert torch.equal(buf.storage["truncated"], i.long() % 3 == 1)


def test_sampling_draws_only_filled_slots_and_all_of_them():
    buf = ReplayBuffer(100, (2,), (), torch.int64, num_envs=2)
    for start in range(0, 6, 2):
        buf.add(*step_rows(start))
    generator = torch.Generator().manual_seed(0)
    batch = buf.sample(600, generator)
    drawn = batch["obs"][:, 0]
    assert set(drawn.tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}  # 94 empty slots (obs 0) are never drawn ...
    assert (batch["rewards"] == drawn * 10).all() and (batch["next_obs"][:, 0] == drawn + 0.5).all()
    counts = torch.bincount(drawn.long(), minlength=6).float()
    assert counts.min() > 60  # ... and the 6 filled ones uniformly (100 expected each)
    assert batch["discount"] == buf.gamma
    with pytest.raises(RuntimeError, match="empty"):
        ReplayBuffer(4, (2,), ()).sample(1)


def test_terminated_and_truncated_are_stored_apart():
    buf = ReplayBuffer(10, (1,), (1,), num_envs=3)
    obs = torch.zeros(3, 1)
    buf.add(obs, torch.zeros(3, 1), np.array([1.0, 2.0, 3.0]), obs + 1, np.array([True, False, False]),
            np.array([False, True, False]))
    assert buf.storage["terminated"][:3].tolist() == [True, False, False]
    assert buf.storage["truncated"][:3].tolist() == [False, True, False]


def test_invalid_rows_are_not_stored():
    buf = ReplayBuffer(10, (2,), (), torch.int64, num_envs=2)
    obs, actions, rewards, next_obs, term, trunc = step_rows(0, n=4)
    buf.add(obs, actions, rewards, next_obs, term, trunc, valid=np.array([True, False, True, False]))
    assert len(buf) == 2 and buf.storage["obs"][:2, 0].tolist() == [0.0, 2.0]
    buf.add(obs, actions, rewards, next_obs, term, trunc, valid=np.zeros(4, dtype=bool))
    assert len(buf) == 2


def test_n_step_returns_by_hand():
    # one env, gamma 0.5, n = 3: rewards 1, 2, 4, 8 then the episode terminates at the 5th step (reward 16)
    buf = ReplayBuffer(20, (1,), (), torch.int64, num_envs=1, n_step=3, gamma=0.5)
    rewards = [1.0, 2.0, 4.0, 8.0, 16.0]
    for t, r in enumerate(rewards):
        done = t == len(rewards) - 1
        buf.add(torch.tensor([[float(t)]]), torch.tensor([t]), np.array([r]), torch.tensor([[t + 1.0]]),
                np.array([done]), np.array([False]))
    s = {k: v[:len(buf)] for k, v in buf.storage.items()}
    order = s["obs"][:, 0].argsort()
    # from t=0: 1 + 0.5*2 + 0.25*4 = 3, bootstraps from s_3 with 0.5^3; t=1: 2 + 2 + 2 = 6 from s_4;
    # t=2: 4 + 4 + 4 = 12, ends at the terminal s_5; t=3: 8 + 8 = 16; t=4: 16
    assert s["rewards"][order].tolist() == [3.0, 6.0, 12.0, 16.0, 16.0]
    assert s["next_obs"][order, 0].tolist() == [3.0, 4.0, 5.0, 5.0, 5.0]
    assert s["discounts"][order].tolist() == [0.125, 0.125, 0.125, 0.25, 0.5]
    assert s["terminated"][order].tolist() == [False, False, True, True, True]
    assert buf.sample(4)["discount"].shape == (4,)


def test_state_dict_round_trip(tmp_path):
    buf = ReplayBuffer(7, (2,), (), torch.int64, num_envs=2)
    for start in range(0, 10, 2):
        buf.add(*step_rows(start))
    path = tmp_path / "buffer.pt"
    torch.save(buf.state_dict(), path)
    state = torch.load(path, weights_only=True)  # checkpoints are read this way
    same = ReplayBuffer(7, (2,), (), torch.int64, num_envs=2)
    same.load_state_dict(state)
    assert (same.pos, same.size, same.added) == (buf.pos, buf.size, buf.added)
    for name in buf.storage:
        assert torch.equal(same.storage[name], buf.storage[name]), name
    smaller = ReplayBuffer(4, (2,), (), torch.int64, num_envs=2)  # another capacity keeps the newest
    smaller.load_state_dict(state)
    assert sorted(smaller.storage["obs"][:, 0].tolist()) == [6.0, 7.0, 8.0, 9.0] and smaller.pos == 0
    buf.add(*step_rows(10))
    same.add(*step_rows(10))
    assert torch.equal(same.storage["obs"], buf.storage["obs"])


def make_agent(overrides):
    from hydra.utils import instantiate

    from lab.train import compose_config

    cfg = compose_config(["experiment=dqn_cartpole", *overrides])
    return instantiate(cfg.model, _convert_="all")


def test_autoreset_step_is_never_stored_and_truncation_keeps_the_final_obs():
    # lab/Chain-v0 (gymnasium's sync vector env, next-step autoreset): 8 states observed one-hot, the goal (7) is
    # terminal, episodes are cut at 50 steps. Random actions: many episodes end each way.
    agent = make_agent(["model.env_id=lab/Chain-v0", "model.num_envs=4", "model.learning_starts=100000",
                        "model.total_timesteps=200000",
                        "model.buffer_size=10000", "model.n_step=1"])
    agent.start_envs()
    assert not agent.env.same_step
    agent.collect(600)
    agent.finish_block()
    buf = agent.replay
    s = {k: v[:len(buf)] for k, v in buf.storage.items()}
    pos, next_pos = s["obs"].argmax(-1), s["next_obs"].argmax(-1)
    moved = torch.where(s["actions"] == 1, (pos + 1).clamp(max=7), (pos - 1).clamp(min=0))
    assert agent.episodes > 20 and s["terminated"].any() and s["truncated"].any()
    assert len(buf) == 600 * 4 - agent.episodes  # one reset step per finished episode, none stored
    assert (pos != 7).all()                      # no transition starts in the terminal state (a reset step would)
    assert torch.equal(next_pos, moved)          # every stored transition follows the chain's dynamics ...
    assert torch.equal(s["terminated"], next_pos == 7)  # ... terminated exactly at the goal
    # a truncated transition's next_obs is the true final observation (not the reset one: state 0 after a move
    # right would be impossible), and it is not terminal
    truncated = s["truncated"]
    assert not (s["terminated"] & truncated).any()
    assert torch.equal(next_pos[truncated], moved[truncated])
    assert agent.env_steps == 600 * 4
