"""The frame-stack replay buffer: sampled stacks are bit for bit what the env returned (zero padding at episode
starts, never another episode's frames), flags, the autoreset row, ring wrap-around, memory per transition,
n-step returns, state dict round trips (also into another capacity) and `measure_memory`."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from lab.rl.frame_replay import FrameStackReplay, measure_memory

S, FRAME = 4, (6, 6)


class FakeAtari:
    """N envs of stacked frames with next-step autoreset, as ale_py.AtariVectorEnv: a reset stack is S-1 zero frames
    and the first frame (`pad=False`: S frames, like the stack left after a lost life), each step shifts in a new
    frame, and the step after a done returns the next episode's first stack. Pixel (0, 0) of every frame is its
    episode's number (1..255), the rest random."""

    def __init__(self, num_envs: int, seed: int = 0, lengths=(3, 12), pad: bool = True, frame=FRAME) -> None:
        self.n, self.lengths, self.pad, self.frame = num_envs, lengths, pad, frame
        self.rng = np.random.default_rng(seed)
        self.episodes = 0
        self.obs = np.stack([self.first_stack() for _ in range(num_envs)])
        self.left = self.rng.integers(*lengths, num_envs, endpoint=True)
        self.done = np.zeros(num_envs, dtype=bool)
        self.episode = np.full(num_envs, self.episodes)

    def reset(self) -> None:
        self.obs = np.stack([self.first_stack() for _ in range(self.n)])
        self.left = self.rng.integers(*self.lengths, self.n, endpoint=True)
        self.done[:] = False

    def new_frame(self, episode: int) -> np.ndarray:
        frame = self.rng.integers(0, 256, self.frame, dtype=np.uint8)
        frame[0, 0] = episode % 255 + 1
        return frame

    def first_stack(self) -> np.ndarray:
        self.episodes += 1
        stack = np.zeros((S, *self.frame), dtype=np.uint8)
        for j in range(S - 1 if self.pad else 0, S):
            stack[j] = self.new_frame(self.episodes)
        return stack

    def step(self):
        """-> next_obs, terminated, truncated, valid (False on a reset step)."""
        valid = ~self.done
        next_obs = np.empty_like(self.obs)
        terminated, truncated = np.zeros(self.n, dtype=bool), np.zeros(self.n, dtype=bool)
        for i in range(self.n):
            if self.done[i]:
                next_obs[i] = self.first_stack()
                self.left[i] = self.rng.integers(*self.lengths, endpoint=True)
                continue
            next_obs[i, :-1] = self.obs[i, 1:]
            next_obs[i, -1] = self.new_frame(int(self.obs[i, -1, 0, 0]) - 1)
            self.left[i] -= 1
            if self.left[i] == 0:
                terminated[i] = self.rng.random() < 0.5
                truncated[i] = not terminated[i]
        self.done = terminated | truncated
        return next_obs, terminated, truncated, valid


def drive(buf: FrameStackReplay, env: FakeAtari, steps: int, records: dict, torch_inputs: bool = False,
          restart: bool = False) -> None:
    """Step `env` into `buf`; each transition's reward is its id, its record is what the env returned (`restart`:
    the buffer was just loaded, each env's next transition starts a new episode in it)."""
    fresh = set(range(env.n)) if restart else set()
    for _ in range(steps):
        obs = env.obs
        next_obs, terminated, truncated, valid = env.step()
        ids = np.full(env.n, -1.0, dtype=np.float32)  # reset rows: reward -1, action 99, never stored
        actions = np.full(env.n, 99)
        for i in np.flatnonzero(valid):
            t = len(records)
            ids[i], actions[i] = t, env.rng.integers(0, 6)
            records[t] = dict(env=i, obs=obs[i].copy(), next_obs=next_obs[i].copy(), action=int(actions[i]),
                              terminated=bool(terminated[i]), truncated=bool(truncated[i]), restart=i in fresh)
            fresh.discard(i)
        if torch_inputs:  # as OffPolicy.collect: obs float32 tensors, actions tensors, the rest from the env
            buf.add(torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(actions), ids, next_obs,
                    terminated, truncated, torch.as_tensor(valid))
        else:
            buf.add(obs, actions, ids, next_obs, terminated, truncated, valid)
        env.obs = next_obs


def check_exact(batch: dict, records: dict) -> list[int]:
    """Every sampled transition is the one its reward names, bit for bit; returns the ids drawn."""
    ids = batch["rewards"].long().tolist()
    assert min(ids) >= 0  # no reset row was stored
    assert batch["obs"].dtype == torch.uint8 and batch["obs"].shape == (len(ids), S, *FRAME)
    for j, t in enumerate(ids):
        r = records[t]
        assert np.array_equal(batch["obs"][j].numpy(), r["obs"]), t
        assert np.array_equal(batch["next_obs"][j].numpy(), r["next_obs"]), t
        assert int(batch["actions"][j]) == r["action"]
        assert bool(batch["terminated"][j]) == r["terminated"] and bool(batch["truncated"][j]) == r["truncated"]
    return ids


@pytest.mark.parametrize("pad, torch_inputs", [(True, False), (False, False), (True, True)])
def test_sampled_stacks_are_what_the_env_returned(pad, torch_inputs):
    env, records = FakeAtari(3, seed=1, pad=pad), {}
    buf = FrameStackReplay(3 * 300, (S, *FRAME), (), num_envs=3)
    drive(buf, env, 150, records, torch_inputs)
    assert len(buf) == len(records) == buf.added
    batch = buf.sample(3000, torch.Generator().manual_seed(0))
    ids = check_exact(batch, records)
    counts = np.bincount(ids, minlength=len(records))
    assert counts.min() > 0 and counts.max() < 4 * counts.mean()  # all of them, about uniformly
    assert batch["discount"] == buf.gamma
    assert batch["terminated"].any() and batch["truncated"].any()
    assert not (batch["terminated"] & batch["truncated"]).any()


def test_torch_write_path():
    """Off the CPU, writes go through torch indexing instead of numpy views: the same transitions."""
    env, records = FakeAtari(2, seed=9), {}
    buf = FrameStackReplay(2 * 20, (S, *FRAME), (), num_envs=2, n_step=2)
    buf._views = None
    drive(buf, env, 100, records, torch_inputs=True)
    batch = buf.sample(500, torch.Generator().manual_seed(0))
    obs = {records[t]["obs"].tobytes() for t in records}
    assert all(o.numpy().tobytes() in obs for o in batch["obs"])
    one_step = FrameStackReplay(2 * 20, (S, *FRAME), (), num_envs=2)
    one_step._views = None
    env, records = FakeAtari(2, seed=9), {}
    drive(one_step, env, 100, records, torch_inputs=True)
    assert len(one_step) == len(expected_stored(records, 20))
    check_exact(one_step.sample(500, torch.Generator().manual_seed(0)), records)


def test_stacks_never_mix_episodes():
    env, records = FakeAtari(2, seed=2, lengths=(1, 6)), {}
    buf = FrameStackReplay(2 * 200, (S, *FRAME), (), num_envs=2)
    drive(buf, env, 150, records)
    batch = buf.sample(2000, torch.Generator().manual_seed(1))
    check_exact(batch, records)
    firsts = 0
    for stacks in (batch["obs"], batch["next_obs"]):
        for stack in stacks.numpy():
            blank = ~stack.reshape(S, -1).any(1)
            assert not blank[np.argmin(blank):].any()  # zero frames only before the episode's first frame
            assert len(set(stack[~blank, 0, 0].tolist())) == 1  # one episode's frames
            firsts += blank[:-1].all()
    assert firsts > 0  # episode starts were drawn: S-1 zero frames, then the first one


def test_terminated_truncated_apart_and_reset_rows_skipped():
    buf = FrameStackReplay(60, (S, *FRAME), (), num_envs=3)
    obs = np.zeros((3, S, *FRAME), dtype=np.uint8)
    next_obs = obs + np.arange(1, 4, dtype=np.uint8)[:, None, None, None]
    buf.add(obs, np.array([0, 1, 2]), np.array([0.0, 1.0, 2.0]), next_obs, np.array([True, False, False]),
            np.array([False, True, False]))
    buf.add(next_obs, np.array([5, 5, 3]), np.array([9.0, 9.0, 3.0]), next_obs + 10, np.zeros(3, bool),
            np.zeros(3, bool), np.array([False, False, True]))  # envs 0 and 1: their reset steps
    assert len(buf) == buf.added == 4
    batch = buf.sample(400, torch.Generator().manual_seed(0))
    r = batch["rewards"].long()
    assert set(r.tolist()) == {0, 1, 2, 3}
    assert torch.equal(batch["terminated"], r == 0) and torch.equal(batch["truncated"], r == 1)
    assert torch.equal(batch["actions"], r)
    assert torch.equal(batch["next_obs"][:, -1, 0, 0], torch.tensor([1, 2, 3, 13])[r].to(torch.uint8))


def expected_stored(records: dict, slots: int, cut: int | None = None, old_slots: int = 0) -> set[int]:
    """The ids whose S + 1 frames are among the newest `slots` frames of their env's stream (a record marked
    "restart" starts a new episode there: a resumed buffer); with `cut`, the buffer was loaded, from one of
    `old_slots` frames per env, before transition `cut`: older frames are only the ones it had."""
    written, oldest, prev, floor = {}, {}, {}, {}
    for t, r in records.items():
        e = r["env"]
        if t == cut or (cut is not None and t > cut and e not in floor):
            floor[e] = written.get(e, 0) - old_slots
        p = prev.get(e)
        new_episode = p is None or p["terminated"] or p["truncated"] or r.get("restart", False)
        written[e] = written.get(e, 0) + (S + 1 if new_episode else 1)
        oldest[t] = written[e] - 1 - S
        prev[e] = r
    return {t for t, r in records.items() if oldest[t] >= max(written[r["env"]] - slots, floor.get(r["env"], 0))}


def test_ring_wraps_around_and_samples_only_whole_transitions():
    env, records = FakeAtari(2, seed=3), {}
    buf = FrameStackReplay(2 * 25, (S, *FRAME), (), num_envs=2)
    drive(buf, env, 300, records)
    stored = expected_stored(records, 25)
    assert len(buf) == len(stored) and buf.added == len(records) > 10 * buf.capacity
    assert 10 < len(buf) < buf.capacity  # short episodes: S + 1 frames each for the first transition
    ids = check_exact(buf.sample(40 * len(buf), torch.Generator().manual_seed(0)), records)
    assert set(ids) == stored
    # one env's stream wraps more often (more, shorter episodes), and capacity not a multiple of num_envs
    env, records = FakeAtari(3, seed=4, lengths=(1, 4)), {}
    buf = FrameStackReplay(3 * 17 + 2, (S, *FRAME), (), num_envs=3)
    drive(buf, env, 200, records)
    assert len(buf) == len(stored := expected_stored(records, 17))
    assert set(check_exact(buf.sample(40 * len(buf), torch.Generator().manual_seed(0)), records)) == stored


def test_memory_per_transition_is_one_frame():
    frame, n = (84, 84), 2
    env, records = FakeAtari(n, seed=5, lengths=(150, 150), frame=frame), {}
    buf = FrameStackReplay(400, (S, *frame), (), num_envs=n)
    drive(buf, env, 150, records)
    per_slot = 84 * 84 + 8 + 4 + 1 + 1 + 4  # frame, int64 action, reward, flags, index
    assert buf.frames.nbytes == 400 * 84 * 84
    assert per_slot <= buf.nbytes / len(buf) < per_slot * (1 + 2 * S / 150)  # + S frames per episode
    assert buf.nbytes / len(buf) < 2 * S * 84 * 84 / 7
    state = buf.state_dict()
    tensors = [state["frames"], state["index"], *state["storage"].values()]
    assert sum(t.numel() * t.element_size() for t in tensors) == buf.nbytes


def test_n_step_returns_and_next_stacks():
    gamma, n = 0.9, 3
    env, records = FakeAtari(2, seed=6, lengths=(1, 7)), {}
    buf = FrameStackReplay(2 * 200, (S, *FRAME), (), num_envs=2, n_step=n, gamma=gamma)
    drive(buf, env, 120, records)
    # expected: per env, the transitions in order; n steps on or to the episode's end
    by_env: dict[int, list[int]] = {}
    for t, r in records.items():
        by_env.setdefault(r["env"], []).append(t)
    expected = {}
    for ts in by_env.values():
        for j, t in enumerate(ts):
            window = [t]
            while len(window) < n and not (records[window[-1]]["terminated"] or records[window[-1]]["truncated"]):
                if j + len(window) >= len(ts):
                    window = None  # not finished yet: not stored
                    break
                window.append(ts[j + len(window)])
            if window is not None and (len(window) == n or records[window[-1]]["terminated"]
                                       or records[window[-1]]["truncated"]):
                expected[t] = window
    assert len(buf) == len(expected)
    batch = buf.sample(3000, torch.Generator().manual_seed(0))
    obs_ids = {records[t]["obs"].tobytes(): t for t in records}
    drawn = set()
    for j in range(3000):
        t = obs_ids[batch["obs"][j].numpy().tobytes()]  # rewards are sums now: find the transition by its obs
        window, last = expected[t], records[expected[t][-1]]
        drawn.add(t)
        assert np.array_equal(batch["next_obs"][j].numpy(), last["next_obs"])
        assert batch["rewards"][j].item() == pytest.approx(sum(gamma ** k * w for k, w in enumerate(window)))
        assert batch["discount"][j].item() == pytest.approx(gamma ** len(window))
        assert int(batch["actions"][j]) == records[t]["action"]
        ended = len(window) < n or last["terminated"] or last["truncated"]
        assert bool(batch["terminated"][j]) == (ended and last["terminated"])
        assert bool(batch["truncated"][j]) == (ended and last["truncated"])
    assert drawn == set(expected)


def test_state_dict_round_trip_gives_identical_samples():
    env, records = FakeAtari(2, seed=7), {}
    buf = FrameStackReplay(2 * 30, (S, *FRAME), (), num_envs=2)
    drive(buf, env, 100, records)  # wrapped, and stopped mid-episode
    blob = io.BytesIO()
    torch.save(buf.state_dict(), blob)
    blob.seek(0)
    state = torch.load(blob, weights_only=True)
    other = FrameStackReplay(2 * 30, (S, *FRAME), (), num_envs=2)
    other.load_state_dict(state)
    assert len(other) == len(buf) and other.nbytes == buf.nbytes and other.added == buf.added
    a, b = (x.sample(500, torch.Generator().manual_seed(3)) for x in (buf, other))
    for key in a:
        assert torch.equal(torch.as_tensor(a[key]), torch.as_tensor(b[key])), key
    # a resumed run: its envs go on (here mid-episode), the buffer starts new episodes
    cut = len(records)
    saved = dict(records)
    drive(other, env, 60, records, restart=True)
    assert len(other) == len(stored := expected_stored(records, 30))
    assert set(check_exact(other.sample(40 * len(other), torch.Generator().manual_seed(4)), records)) == stored
    # into a smaller and a larger buffer: the newest frames of each env, stacks still exact
    for slots in (12, 80):
        records = dict(saved)
        resized = FrameStackReplay(2 * slots, (S, *FRAME), (), num_envs=2)
        resized.load_state_dict(state)
        assert len(resized) == len(expected_stored(records, min(slots, 30)))
        drive(resized, env, 40, records, restart=True)
        stored = expected_stored(records, slots, cut, old_slots=30)
        assert len(resized) == len(stored)
        assert set(check_exact(resized.sample(40 * len(resized), torch.Generator().manual_seed(5)), records)) == stored
    with pytest.raises(ValueError, match="num_envs"):
        FrameStackReplay(90, (S, *FRAME), (), num_envs=3).load_state_dict(state)


def test_drop_pending_starts_new_episodes():
    env, records = FakeAtari(2, seed=8, lengths=(20, 30)), {}
    buf = FrameStackReplay(2 * 100, (S, *FRAME), (), num_envs=2)
    drive(buf, env, 10, records)  # mid-episode in both envs
    env.reset()  # as a resumed run does
    buf.drop_pending()
    drive(buf, env, 10, records, restart=True)
    assert len(buf) == 40
    assert set(check_exact(buf.sample(1000, torch.Generator().manual_seed(0)), records)) == set(records)


def test_rejects_what_it_cannot_hold():
    with pytest.raises(ValueError, match="stacked frames"):
        FrameStackReplay(100, (8,), ())
    with pytest.raises(ValueError, match="at least"):
        FrameStackReplay(8, (S, *FRAME), (), num_envs=2)
    with pytest.raises(RuntimeError, match="empty"):
        FrameStackReplay(20, (S, *FRAME), ()).sample(1)


def test_measure_memory_on_a_small_buffer():
    m = measure_memory(2000, num_envs=2, seconds=0.2)
    frame = 84 * 84
    assert 0.9 * 2000 < m["transitions"] <= 2000
    assert frame < m["bytes_per_transition"] < 1.05 * frame
    # resident memory is the benchmark's figure (other allocations in the process move it): reported, not bounded
    assert m["rss_bytes"] < m["nbytes"] + 64 * 2**20 and m["rss_bytes_per_transition"] == m["rss_bytes"] / m["transitions"]
    assert m["batches_per_sec"] > 0
