"""Stable-Baselines3 runs measured the way the lab measures its own: the same "solved" check (a deterministic
evaluation by `lab.rl.evaluate.run_episodes` every `check_every` env steps), evaluation time excluded."""

from __future__ import annotations

import time

import torch

from lab.rl.evaluate import run_episodes


def sb3_solve(algorithm: str, env_id: str, seed: int, budget: int, threshold: float, check_every: int,
              episodes: int, eval_seed: int, n_envs: int = 1, **hyperparameters) -> dict:
    """Train SB3's `algorithm` ("PPO", "DQN", "SAC", "TD3") until solved or `budget` env steps; return solved,
    seconds and env steps to solve, and the training env steps/s."""
    import stable_baselines3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    class SolvedCheck(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_check, self.eval_seconds, self.solved_at = check_every, 0.0, None

        def _on_training_start(self) -> None:
            self.start = time.perf_counter()

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_check:
                return True
            self.next_check += check_every
            tick = time.perf_counter()
            act = lambda obs: torch.as_tensor(self.model.predict(obs.numpy(), deterministic=True)[0])  # noqa: E731
            returns, _ = run_episodes(env_id, act, episodes, eval_seed)
            self.eval_seconds += time.perf_counter() - tick
            if returns.mean() >= threshold:
                self.solved_at = (time.perf_counter() - self.start - self.eval_seconds, self.num_timesteps)
                return False
            return True

    env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    model = getattr(stable_baselines3, algorithm)("MlpPolicy", env, seed=seed, device="cpu", verbose=0,
                                                   **hyperparameters)
    check = SolvedCheck()
    model.learn(total_timesteps=budget, callback=check)
    train_seconds = time.perf_counter() - check.start - check.eval_seconds
    env.close()
    seconds, steps = check.solved_at or (float("nan"), float("nan"))
    return {"solved": check.solved_at is not None, "seconds": seconds, "steps": steps,
            "rate": model.num_timesteps / train_seconds}


def sb3_final_return(algorithm: str, env_id: str, seed: int, budget: int, episodes: int, eval_seed: int,
                     **hyperparameters) -> dict:
    """Train SB3's `algorithm` for `budget` env steps; the deterministic return of the final policy and the time."""
    import stable_baselines3
    from stable_baselines3.common.env_util import make_vec_env

    normalize = hyperparameters.pop("normalize", False)  # the RL-Zoo's `normalize: true`: VecNormalize
    env = make_vec_env(env_id, n_envs=1, seed=seed)
    if normalize:
        from stable_baselines3.common.vec_env import VecNormalize

        env = VecNormalize(env)
    model = getattr(stable_baselines3, algorithm)("MlpPolicy", env, seed=seed, device="cpu", verbose=0,
                                                   **hyperparameters)
    start = time.perf_counter()
    model.learn(total_timesteps=budget)
    seconds = time.perf_counter() - start
    env.close()
    scale = env.normalize_obs if normalize else (lambda obs: obs)  # the policy acts on normalised observations

    def act(obs: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(model.predict(scale(obs.numpy()), deterministic=True)[0])

    returns, _ = run_episodes(env_id, act, episodes, eval_seed)
    return {"return_mean": float(returns.mean()), "return_std": float(returns.std()), "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    """`python -m lab.bench._sb3 ALGORITHM ENV_ID SEED BUDGET [JSON hyperparameters]`: one `sb3_final_return` as
    its own process (so benchmarks can run it beside the lab's runs); prints its result as JSON. The key
    `action_noise_std` becomes SB3's NormalActionNoise of that std (the RL-Zoo's `noise_type: normal`), `normalize`
    wraps the env in VecNormalize, `policy_kwargs.activation_fn` is named ("relu", "tanh"), and a learning rate
    "lin_X" is the RL-Zoo's linear schedule from X to 0."""
    import json
    import sys

    algorithm, env_id, seed, budget, *rest = argv if argv is not None else sys.argv[1:]
    hyperparameters = json.loads(rest[0]) if rest else {}
    std = hyperparameters.pop("action_noise_std", None)
    if std is not None:
        import gymnasium as gym
        import numpy as np
        from stable_baselines3.common.noise import NormalActionNoise

        dim = gym.make(env_id).action_space.shape[0]
        hyperparameters["action_noise"] = NormalActionNoise(np.zeros(dim), std * np.ones(dim))
    lr = hyperparameters.get("learning_rate")
    if isinstance(lr, str) and lr.startswith("lin_"):  # the RL-Zoo's linear schedule, to 0 at the end
        start = float(lr[4:])
        hyperparameters["learning_rate"] = lambda progress_remaining: progress_remaining * start
    kwargs = hyperparameters.get("policy_kwargs", {})
    if isinstance(kwargs.get("activation_fn"), str):  # JSON names it; SB3 wants the class
        kwargs["activation_fn"] = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[kwargs["activation_fn"]]
    torch.set_num_threads(1)
    print(json.dumps(sb3_final_return(algorithm, env_id, int(seed), int(budget), 20, 777, **hyperparameters)))


if __name__ == "__main__":
    main()
