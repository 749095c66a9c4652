"""A preallocated ring buffer of transitions on one device, filled a vector step (N envs) at a time.

Each slot holds (obs, action, reward, next_obs, terminated, truncated) and, with `n_step > 1`, the discount of
its bootstrap. `terminated` and `truncated` stay apart: a target bootstraps unless `terminated`, so an episode
cut by a time limit still bootstraps from `next_obs`, its true final observation.

What the caller passes per vector step: the observations acted on, the actions, and what `VecEnv.step` returned,
with `next_obs` the true next observation of each env (for next-step autoreset, gymnasium 1.x's default, the
observation returned with `done` is the final one; for same-step envs it is `final_obs` where done) and `valid`
False where the step was not a transition (the reset step after a done in next-step mode; see
`lab.rl.rollout.EpisodeTracker.valid_mask`): those rows are never stored.

n-step returns (`n_step > 1`): each env keeps its last n-1 steps; a slot is written once n steps have followed
it (reward = sum_k gamma^k r_k, discount gamma^n, next_obs n steps on) or its episode ends first (then
`terminated`/`truncated` are the episode's and the discount is gamma^m for the m steps it had).

`sample(batch_size)` draws slots uniformly, with replacement, among the filled ones only. `state_dict()` holds
tensors and ints (what a `weights_only=True` checkpoint may hold): the filled part of the storage, the write
position and counts; `load_state_dict` restores it, into a buffer of another capacity too (keeping the newest).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from lab.rl.vec import to_numpy

FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated")


class ReplayBuffer:
    def __init__(self, capacity: int, obs_shape: tuple[int, ...], action_shape: tuple[int, ...],
                 action_dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 num_envs: int = 1, n_step: int = 1, gamma: float = 0.99, obs_dtype: torch.dtype = torch.float32) -> None:
        if capacity < 1 or n_step < 1:
            raise ValueError(f"capacity and n_step must be >= 1, got {capacity} and {n_step}")
        self.capacity, self.num_envs, self.n_step, self.gamma = int(capacity), num_envs, n_step, gamma
        self.device = torch.device(device)
        zeros = lambda shape, dtype: torch.zeros((self.capacity, *shape), dtype=dtype, device=self.device)  # noqa: E731
        self.storage = {"obs": zeros(obs_shape, obs_dtype), "actions": zeros(action_shape, action_dtype),
                        "rewards": zeros((), torch.float32), "next_obs": zeros(obs_shape, obs_dtype),
                        "terminated": zeros((), torch.bool), "truncated": zeros((), torch.bool)}
        if n_step > 1:
            self.storage["discounts"] = zeros((), torch.float32)
        # on the CPU, writes go through numpy views of the same memory: ~1 us a field instead of ~4
        self._views = {k: v.numpy() for k, v in self.storage.items()} if self.device.type == "cpu" else None
        self.pos = 0      # the next slot to write
        self.size = 0     # filled slots
        self.added = 0    # transitions ever stored
        self._pending = [deque() for _ in range(num_envs)] if n_step > 1 else None

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        """Bytes of the filled part (what a checkpoint stores)."""
        return sum(t[0].numel() * t.element_size() for t in self.storage.values()) * self.size

    # ----- adding -----------------------------------------------------------------------------------------
    def add(self, obs, actions, rewards, next_obs, terminated, truncated, valid=None) -> None:
        """Store one vector step of N envs (tensors or numpy arrays); rows where `valid` is False are skipped."""
        if self.n_step > 1:
            self._add_n_step(obs, actions, rewards, next_obs, terminated, truncated, valid)
            return
        rows = (obs, actions, rewards, next_obs, terminated, truncated)
        if valid is not None:
            valid = to_numpy(valid)
            if not valid.all():
                keep = np.flatnonzero(valid)
                if len(keep) == 0:
                    return
                rows = tuple(to_numpy(r)[keep] for r in rows)
        self._write(dict(zip(FIELDS, rows)))

    def _write(self, rows: dict) -> None:
        k = len(rows["rewards"])
        if k > self.capacity:  # more rows than slots: only the newest fit
            rows = {name: value[-self.capacity:] for name, value in rows.items()}
            k = self.capacity
        end = self.pos + k
        slots = slice(self.pos, end) if end <= self.capacity else np.arange(self.pos, end) % self.capacity
        if self._views is not None:
            for name, value in rows.items():
                self._views[name][slots] = to_numpy(value)
        else:
            if not isinstance(slots, slice):
                slots = torch.as_tensor(slots, device=self.device)
            for name, value in rows.items():
                target = self.storage[name]
                target[slots] = torch.as_tensor(value).to(self.device, target.dtype)
        self.pos = end % self.capacity
        self.size = min(self.size + k, self.capacity)
        self.added += k

    def _add_n_step(self, obs, actions, rewards, next_obs, terminated, truncated, valid) -> None:
        obs, actions, rewards, next_obs = to_numpy(obs), to_numpy(actions), to_numpy(rewards), to_numpy(next_obs)
        terminated, truncated = to_numpy(terminated), to_numpy(truncated)
        valid = np.ones(len(rewards), dtype=bool) if valid is None else to_numpy(valid)
        out: dict[str, list] = {name: [] for name in (*FIELDS, "discounts")}

        def emit(window, start: int, last_obs, term: bool, trunc: bool) -> None:
            steps = list(window)[start:]
            ret = sum(self.gamma ** j * r for j, (_, _, r) in enumerate(steps))
            for name, value in zip((*FIELDS, "discounts"), (steps[0][0], steps[0][1], ret, last_obs, term, trunc,
                                                             self.gamma ** len(steps))):
                out[name].append(value)

        for i in np.flatnonzero(valid):
            window = self._pending[i]
            window.append((obs[i].copy(), actions[i].copy(), float(rewards[i])))
            if terminated[i] or truncated[i]:
                for start in range(len(window)):
                    emit(window, start, next_obs[i], bool(terminated[i]), bool(truncated[i]))
                window.clear()
            elif len(window) == self.n_step:
                emit(window, 0, next_obs[i], False, False)
                window.popleft()
        if out["rewards"]:
            self._write({name: np.stack(values) if name in ("obs", "actions", "next_obs") else np.asarray(values)
                         for name, values in out.items()})

    def drop_pending(self) -> None:
        """Forget unfinished n-step windows (the envs were reset: a resumed run starts new episodes)."""
        if self._pending is not None:
            for window in self._pending:
                window.clear()

    # ----- sampling ---------------------------------------------------------------------------------------
    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """`batch_size` transitions drawn uniformly (with replacement) from the filled slots; "discount" is the
        bootstrap's discount (a float gamma with 1-step returns)."""
        if self.size == 0:
            raise RuntimeError("sample() from an empty replay buffer")
        idx = torch.randint(0, self.size, (batch_size,), device=self.device, generator=generator)
        batch = {name: self.storage[name][idx] for name in FIELDS}
        batch["discount"] = self.storage["discounts"][idx] if self.n_step > 1 else self.gamma
        return batch

    # ----- checkpoints ------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"capacity": self.capacity, "pos": self.pos, "size": self.size, "added": self.added,
                "n_step": self.n_step, "storage": {k: v[:self.size].cpu().clone() for k, v in self.storage.items()}}

    def load_state_dict(self, state: dict) -> None:
        size, pos, capacity = int(state["size"]), int(state["pos"]), int(state["capacity"])
        stored = state["storage"]
        if int(state.get("n_step", 1)) != self.n_step:
            raise ValueError(f"the checkpoint's replay buffer has n_step={state.get('n_step', 1)}, this one {self.n_step}")
        if capacity == self.capacity:
            for name, target in self.storage.items():
                target[:size] = stored[name].to(self.device, target.dtype)
            self.pos, self.size = pos, size
        else:  # oldest-first order, then keep the newest that fit
            order = torch.arange(size) if size < capacity else (torch.arange(size) + pos) % capacity
            keep = order[-self.capacity:]
            for name, target in self.storage.items():
                target[:len(keep)] = stored[name][keep].to(self.device, target.dtype)
            self.size = len(keep)
            self.pos = self.size % self.capacity
        self.added = int(state["added"])
        self.drop_pending()
