"""A replay buffer for stacked pixel observations (Atari) that stores every frame once.

An observation is a stack of the env's S latest frames, (S, *frame) uint8 (ALE: (4, 84, 84)), and within an
episode each step shifts the stack by one frame (next_obs[:-1] == obs[1:]). `FrameStackReplay` keeps one frame
stream per env (a ring of `capacity // num_envs` frames each): an episode's first transition writes its whole
first stack (whatever the env gave: ALE's zero padding, or the frames left from the last life) and its next
frame; every later transition writes only its newest next frame. A transition is the slot of its next frame q:
obs = frames q-S .. q-1, next_obs = q-S+1 .. q, so `sample` rebuilds both stacks with one gather over a (B, S+1)
index. Stacks are bit-for-bit what the env returned and never reach into another episode; a transition whose
oldest frame was overwritten is no longer drawn.

Memory per transition: one frame (prod(frame) bytes, 7056 for 84x84) plus its action, reward, terminated,
truncated and a 4-byte index (18 bytes with int64 actions), plus S frames per episode (its first stack and final
frame: ~1% for episodes of a few hundred steps). A million 84x84 transitions take ~7.1 GB, where storing obs
and next_obs stacks (SB3) takes ~56 GB.

It is a drop-in for `lab.rl.replay.ReplayBuffer`: the same constructor, `add` (one vector step, rows with `valid`
False skipped; next-step or same-step autoreset), `sample`, `len`, `nbytes`, `state_dict` / `load_state_dict`
(tensors and ints; a buffer of another capacity keeps the newest frames of each env) and `drop_pending` (the next
add starts a new episode in every env). With `n_step > 1` a transition's next stack is the one m <= n steps on
(m < n where the episode ended first), its reward the discounted sum and its discount gamma^m.

`measure_memory(capacity)` fills a buffer with random-play-like data and reports its resident memory, bytes per
transition and sampling rate.
"""

from __future__ import annotations

import os
import resource
import time
from collections import deque

import numpy as np
import torch

from lab.rl.vec import to_numpy

SLOT_FIELDS = ("actions", "rewards", "terminated", "truncated")


def _take(storage: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """storage (N, slots, *shape) at flat slot numbers `index` -> (*index.shape, *shape), gathered as rows of bytes.
    On a CPU through numpy: torch's advanced indexing of uint8 frames is ~20x slower, and its index_select splits
    a batch's few rows over intra-op threads (milliseconds when the cores are busy)."""
    rows = storage.view(storage.shape[0] * storage.shape[1], -1)
    if storage.device.type == "cpu":
        rows = torch.from_numpy(np.take(rows.numpy(), index.reshape(-1).numpy(), axis=0))
    else:
        rows = rows.index_select(0, index.reshape(-1))
    return rows.view(*index.shape, *storage.shape[2:])


def _rows(value, rows: np.ndarray):
    """value[rows] for a tensor (on its device) or an array."""
    if isinstance(value, torch.Tensor):
        return value[torch.as_tensor(rows, device=value.device)]
    return np.asarray(value)[rows]


class FrameStackReplay:
    def __init__(self, capacity: int, obs_shape: tuple[int, ...], action_shape: tuple[int, ...],
                 action_dtype: torch.dtype = torch.int64, device: str | torch.device = "cpu",
                 num_envs: int = 1, n_step: int = 1, gamma: float = 0.99, obs_dtype: torch.dtype = torch.uint8) -> None:
        obs_shape = tuple(int(d) for d in obs_shape)
        if len(obs_shape) < 2:
            raise ValueError(f"FrameStackReplay needs stacked frames (S, *frame), got an observation shape {obs_shape}")
        if capacity < 1 or n_step < 1 or num_envs < 1:
            raise ValueError(f"capacity, num_envs and n_step must be >= 1, got {capacity}, {num_envs} and {n_step}")
        self.capacity, self.num_envs, self.n_step, self.gamma = int(capacity), int(num_envs), int(n_step), gamma
        self.stack, self.frame_shape = obs_shape[0], obs_shape[1:]
        self.slots = self.capacity // self.num_envs  # frames per env
        if self.slots < self.stack + self.n_step:
            raise ValueError(f"FrameStackReplay: capacity {capacity} gives {self.slots} frames per env for "
                             f"{num_envs} envs; it needs at least stack + n_step = {self.stack + self.n_step}")
        self.device = torch.device(device)
        zeros = lambda shape, dtype: torch.zeros((self.num_envs, self.slots, *shape), dtype=dtype,  # noqa: E731
                                                 device=self.device)
        self.frames = zeros(self.frame_shape, obs_dtype)
        # per slot, for the transition whose next frame is there
        self.storage = {"actions": zeros(tuple(action_shape), action_dtype), "rewards": zeros((), torch.float32),
                        "terminated": zeros((), torch.bool), "truncated": zeros((), torch.bool)}
        if self.n_step > 1:
            self.storage["discounts"] = zeros((), torch.float32)
            self.storage["steps"] = zeros((), torch.uint8)  # m: the next stack is m steps on
        self.index = zeros((), torch.int32)  # per env, the k-th transition's slot at k % slots
        self._tensors = {"frames": self.frames, "index": self.index, **self.storage}
        # on the CPU, writes go through numpy views of the same memory
        self._views = {k: v.numpy() for k, v in self._tensors.items()} if self.device.type == "cpu" else None
        n = self.num_envs
        self.written = np.zeros(n, dtype=np.int64)  # frames ever written, per env
        self.floor = np.zeros(n, dtype=np.int64)    # the oldest frame still stored (a count like `written`)
        self.count = np.zeros(n, dtype=np.int64)    # transitions ever indexed, per env
        self.first = np.zeros(n, dtype=np.int64)    # the oldest transition whose frames are all stored
        self.added = 0
        self._episodes = [deque() for _ in range(n)]  # per env: [first frame, first transition] of each episode
        self._open = np.zeros(n, dtype=bool)          # the env's next transition continues its episode
        self._pending = [deque() for _ in range(n)] if self.n_step > 1 else None
        self._cache = None
        self._window = torch.arange(-self.stack, 1, device=self.device)

    def __len__(self) -> int:
        return int((self.count - self.first).sum())

    @property
    def size(self) -> int:
        return len(self)

    @property
    def nbytes(self) -> int:
        """Bytes of the filled part (what a checkpoint stores)."""
        per_slot = sum(t[0, 0].numel() * t.element_size() for t in (self.frames, self.index, *self.storage.values()))
        return per_slot * self.num_envs * self._filled()

    def _filled(self) -> int:
        return int(min(self.written.max(), self.slots))

    # ----- adding -----------------------------------------------------------------------------------------
    def _put(self, name: str, envs: np.ndarray, slots: np.ndarray, values) -> None:
        if self._views is not None:
            self._views[name][envs, slots] = to_numpy(values)
        else:
            target = self._tensors[name]
            index = (torch.as_tensor(envs, device=self.device), torch.as_tensor(slots, device=self.device))
            values = values if isinstance(values, torch.Tensor) else torch.as_tensor(to_numpy(values))
            target[index] = values.to(self.device, target.dtype)

    def add(self, obs, actions, rewards, next_obs, terminated, truncated, valid=None) -> None:
        """Store one vector step of N envs (tensors or numpy arrays); rows where `valid` is False are skipped."""
        envs = np.arange(self.num_envs) if valid is None else np.flatnonzero(to_numpy(valid))
        if len(envs) == 0:
            return
        self._cache = None
        rewards = to_numpy(rewards).astype(np.float32)
        terminated, truncated = to_numpy(terminated).astype(bool), to_numpy(truncated).astype(bool)
        s, slots = self.stack, self.slots
        for e in envs[~self._open[envs]]:  # an episode's first transition: its whole first stack
            self._episodes[e].append([int(self.written[e]), int(self.count[e])])
            self._put("frames", np.full(s, e), (self.written[e] + np.arange(s)) % slots, obs[int(e)])
            self.written[e] += s
            self._open[e] = True
        q = self.written[envs] % slots
        self._put("frames", envs, q, _rows(next_obs, envs)[:, -1])
        self._put("actions", envs, q, _rows(actions, envs))
        self.written[envs] += 1
        self.floor[envs] = np.maximum(self.floor[envs], self.written[envs] - slots)
        done = terminated[envs] | truncated[envs]
        if self.n_step == 1:
            for name, value in (("rewards", rewards), ("terminated", terminated), ("truncated", truncated)):
                self._put(name, envs, q, value[envs])
            self._put("index", envs, self.count[envs] % slots, q)
            self.count[envs] += 1
        else:
            self._add_n_step(envs, q, rewards[envs], terminated[envs], truncated[envs])
        self._open[envs[done]] = False
        self.added += len(envs)
        self._advance(envs)

    def _add_n_step(self, envs, q, rewards, terminated, truncated) -> None:
        out = {name: [] for name in ("envs", "slots", "rewards", "discounts", "steps", "terminated", "truncated")}
        for e, slot, r, term, trunc in zip(envs, q, rewards, terminated, truncated):
            window = self._pending[e]
            window.append((int(slot), float(r)))
            if term or trunc:
                finished = range(len(window))
            elif len(window) == self.n_step:
                finished = range(1)
            else:
                continue
            steps = list(window)
            for start in finished:
                m = len(steps) - start
                out["envs"].append(e)
                out["slots"].append(steps[start][0])
                out["rewards"].append(sum(self.gamma ** j * r for j, (_, r) in enumerate(steps[start:])))
                out["discounts"].append(self.gamma ** m)
                out["steps"].append(m)
                out["terminated"].append(bool(term))
                out["truncated"].append(bool(trunc))
            for _ in finished:
                window.popleft()
        if not out["envs"]:
            return
        envs_done, slots_done = np.asarray(out.pop("envs")), np.asarray(out.pop("slots"))
        for name, values in out.items():
            self._put(name, envs_done, slots_done, np.asarray(values))
        # indexed in each env's order (a window finishes oldest first)
        positions = np.empty(len(envs_done), dtype=np.int64)
        for j, e in enumerate(envs_done):
            positions[j] = self.count[e] % self.slots
            self.count[e] += 1
        self._put("index", envs_done, positions, slots_done)

    def _advance(self, envs) -> None:
        """Move each env's `first` past the transitions whose oldest frame is no longer stored."""
        for e in envs:
            episodes, floor = self._episodes[e], self.floor[e]
            while episodes:
                start, t0 = episodes[0]
                end = episodes[1][1] if len(episodes) > 1 else self.count[e]
                # the k-th transition of an episode starting at frame `start` has its oldest frame at start + k
                oldest_kept = t0 + max(0, floor - start)
                if oldest_kept < end or len(episodes) == 1:
                    self.first[e] = min(oldest_kept, end)
                    break
                episodes.popleft()

    def drop_pending(self) -> None:
        """The envs were reset: the next transition of every env starts a new episode (its unfinished n-step
        windows are dropped)."""
        self._open[:] = False
        if self._pending is not None:
            for window in self._pending:
                window.clear()

    # ----- sampling ---------------------------------------------------------------------------------------
    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """`batch_size` transitions drawn uniformly (with replacement) among those whose frames are all stored;
        obs and next_obs are (B, S, *frame) views of one gathered (B, S+1, *frame) tensor with 1-step returns.
        "discount" is the bootstrap's discount (a float gamma with 1-step returns)."""
        total = len(self)
        if total == 0:
            raise RuntimeError("sample() from an empty replay buffer")
        if self._cache is None:  # per env: where its transitions end in the draw, and the offset to its index
            counts = self.count - self.first
            ends = np.cumsum(counts)
            self._cache = (torch.as_tensor(ends, device=self.device),
                           torch.as_tensor(self.first - (ends - counts), device=self.device))
        ends, offsets = self._cache
        u = torch.randint(0, total, (batch_size,), device=self.device, generator=generator)
        env = torch.searchsorted(ends, u, right=True) if self.num_envs > 1 else torch.zeros_like(u)
        base = env * self.slots
        q = self.index.view(-1)[base + (u + offsets[env]) % self.slots].long()
        flat = base + q
        batch = {name: _take(self.storage[name], flat) for name in SLOT_FIELDS}
        if self.n_step == 1:
            stacks = _take(self.frames, base[:, None] + (q[:, None] + self._window) % self.slots)
            batch["obs"], batch["next_obs"] = stacks[:, :-1], stacks[:, 1:]
            batch["discount"] = self.gamma
        else:
            m = _take(self.storage["steps"], flat).long()
            window = self._window[:-1]
            index = torch.cat([q[:, None] + window, (q + m - 1)[:, None] + window + 1], 1) % self.slots
            stacks = _take(self.frames, base[:, None] + index)
            batch["obs"], batch["next_obs"] = stacks[:, :self.stack], stacks[:, self.stack:]
            batch["discount"] = _take(self.storage["discounts"], flat)
        return batch

    # ----- checkpoints ------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        filled = self._filled()
        episodes = [[e, start, t0] for e in range(self.num_envs) for start, t0 in self._episodes[e]]
        return {"capacity": self.capacity, "num_envs": self.num_envs, "n_step": self.n_step, "stack": self.stack,
                "slots": self.slots,
                "added": self.added, "frames": self.frames[:, :filled].cpu().clone(),
                "index": self.index[:, :filled].cpu().clone(),
                "storage": {k: v[:, :filled].cpu().clone() for k, v in self.storage.items()},
                "written": torch.as_tensor(self.written), "floor": torch.as_tensor(self.floor),
                "count": torch.as_tensor(self.count), "first": torch.as_tensor(self.first),
                "episodes": torch.as_tensor(episodes, dtype=torch.int64).reshape(-1, 3)}

    def load_state_dict(self, state: dict) -> None:
        if int(state["n_step"]) != self.n_step:
            raise ValueError(f"the checkpoint's replay buffer has n_step={state['n_step']}, this one {self.n_step}")
        if int(state["num_envs"]) != self.num_envs:
            raise ValueError(f"the checkpoint's replay buffer has {state['num_envs']} frame streams (num_envs), "
                             f"this one {self.num_envs}")
        if (int(state["stack"]), *state["frames"].shape[2:]) != (self.stack, *self.frame_shape):
            raise ValueError(f"the checkpoint's replay buffer has stacks of {state['stack']} frames "
                             f"{tuple(state['frames'].shape[2:])}, this one of {self.stack} {self.frame_shape}")
        old_slots, slots = int(state["slots"]), self.slots
        written, count = state["written"].numpy().copy(), state["count"].numpy().copy()
        floor = np.maximum(state["floor"].numpy(), written - slots)  # a smaller buffer keeps the newest frames
        self._episodes = [deque() for _ in range(self.num_envs)]
        for e, start, t0 in state["episodes"].tolist():
            self._episodes[e].append([start, t0])
        self.written, self.floor, self.count = written, floor, count
        self.first = state["first"].numpy().copy()
        self._advance(range(self.num_envs))  # past what a smaller buffer lost
        sources = {"frames": state["frames"], "index": state["index"], **state["storage"]}
        targets = self._tensors
        if old_slots == slots:
            filled = sources["frames"].shape[1]
            for name, target in targets.items():
                target[:, :filled] = sources[name].to(self.device, target.dtype)
        else:
            for e in range(self.num_envs):
                kept = torch.arange(floor[e], written[e])  # frame numbers, oldest first
                for name in ("frames", *self.storage):
                    target = targets[name]
                    target[e, (kept % slots).to(self.device)] = sources[name][e, kept % old_slots].to(self.device,
                                                                                                   target.dtype)
                k = torch.arange(self.first[e], count[e])  # transitions, by their frame numbers
                q = sources["index"][e, k % old_slots].long()
                number = written[e] - 1 - (written[e] - 1 - q) % old_slots
                self.index[e, (k % slots).to(self.device)] = (number % slots).to(self.device, torch.int32)
        self.added = int(state["added"])
        self._cache = None
        self.drop_pending()


# ----- measuring --------------------------------------------------------------------------------------------
def _rss() -> int:
    """Resident set size of this process, bytes."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # no procfs: the peak, which only grows
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_memory(capacity: int, num_envs: int = 8, frame_shape: tuple[int, ...] = (84, 84), seed: int = 0,
                   stack: int = 4, seconds: float = 2.0) -> dict:
    """Fill a `FrameStackReplay(capacity)` with random-play-like data (random uint8 frames, episodes of 100-2000
    steps, next-step autoreset) and measure it: resident memory growth, nbytes, bytes per transition, and
    32-transition batches sampled per second (over `seconds`)."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, (257, *frame_shape), dtype=np.uint8)  # frames are drawn from a pool: cheap
    before = _rss()
    buf = FrameStackReplay(capacity, (stack, *frame_shape), (), torch.int64, num_envs=num_envs)
    obs = np.zeros((num_envs, stack, *frame_shape), dtype=np.uint8)
    obs[:, -1] = pool[rng.integers(0, len(pool), num_envs)]
    left = rng.integers(100, 2001, num_envs)
    prev_done = np.zeros(num_envs, dtype=bool)
    steps = 0
    while buf.added < capacity:
        next_obs = np.concatenate([obs[:, 1:], pool[rng.integers(0, len(pool), num_envs)][:, None]], 1)
        next_obs[prev_done, :-1] = 0  # the reset step: the new episode's first stack
        left -= ~prev_done
        done = (left == 0) & ~prev_done
        truncated = done & (rng.random(num_envs) < 0.1)
        buf.add(obs, rng.integers(0, 4, num_envs), rng.random(num_envs, dtype=np.float32), next_obs,
                done & ~truncated, truncated, ~prev_done)
        left[done] = rng.integers(100, 2001, int(done.sum()))
        obs, prev_done = next_obs, done
        steps += 1
    grown = _rss() - before
    generator = torch.Generator().manual_seed(seed)
    batches, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            buf.sample(32, generator)
        batches += 50
    return {"capacity": capacity, "transitions": len(buf), "vector_steps": steps, "rss_bytes": grown,
            "nbytes": buf.nbytes, "bytes_per_transition": buf.nbytes / len(buf),
            "rss_bytes_per_transition": grown / len(buf), "batches_per_sec": batches / elapsed}
