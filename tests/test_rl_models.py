"""PPO / A2C / REINFORCE through lab.train: update passes, advantage normalisation, resume, errors, convergence."""

from __future__ import annotations

import logging

import pytest
import torch

import lab.models.ppo as ppo_module
from lab.run.checkpoint import read_checkpoint
from lab.errors import LabError

FAST = ["model.num_envs=4", "model.num_steps=32", "callbacks.model_checkpoint.every_n_epochs=1", "test=false",
        "model.eval_every=0"]


def test_ppo_runs_the_configured_update_passes(run_exp):
    # 4 envs x 32 steps = 128 transitions, 4 minibatches of 32, 3 epochs: 12 optimiser steps per rollout
    metrics = run_exp(["experiment=ppo_cartpole", *FAST, "model.total_timesteps=256", "model.update_epochs=3",
                       "model.num_minibatches=4"])
    assert metrics["train/env_steps"] == 256
    assert metrics["trainer/global_step"] == 2 * 3 * 4
    for key in ("train/policy_loss", "train/value_loss", "train/entropy", "train/approx_kl", "train/clip_fraction",
                "train/explained_variance", "train/return_mean", "train/episode_length", "perf/env_steps_per_sec"):
        assert key in metrics, key


def test_a_run_gives_the_caller_its_thread_count_back(run_exp):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_exp(["experiment=ppo_cartpole", *FAST, "model.total_timesteps=128", "model.num_threads=1"])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("experiment", ["ppo_cartpole", "ppo_breakout"])
def test_a_seed_gives_the_same_initial_weights_whatever_the_thread_count(experiment):
    from hydra.utils import instantiate

    from lab.train import compose_config

    model_cfg = compose_config([f"experiment={experiment}"]).model
    before, weights = torch.get_num_threads(), []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            weights.append(instantiate(model_cfg, _convert_="all").state_dict())
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


def test_ppo_target_kl_stops_the_passes_early(run_exp):
    metrics = run_exp(["experiment=ppo_cartpole", *FAST, "model.total_timesteps=128", "model.update_epochs=5",
                       "model.num_minibatches=4", "model.target_kl=0.0"])
    assert metrics["trainer/global_step"] == 4  # one pass of 4 minibatches, then KL > 0 stops it


@pytest.mark.parametrize("norm_adv", [True, False])
def test_ppo_uses_the_normalised_advantages(run_exp, monkeypatch, norm_adv):
    seen = []
    original = ppo_module.clipped_surrogate

    def spy(ratio, advantages, clip_coef):
        seen.append(advantages.detach().clone())
        return original(ratio, advantages, clip_coef)

    monkeypatch.setattr(ppo_module, "clipped_surrogate", spy)
    run_exp(["experiment=ppo_cartpole", *FAST, "model.total_timesteps=128", f"model.norm_adv={norm_adv}",
             "model.update_epochs=4"])
    assert len(seen) == 4 * 2  # update_epochs=4 x num_minibatches=2
    means = torch.stack([a.mean() for a in seen]).abs().max()
    stds = torch.stack([a.std() for a in seen])
    if norm_adv:
        assert means < 1e-5 and torch.allclose(stds, torch.ones_like(stds), atol=1e-4)
    else:  # CartPole's raw GAE advantages are positive on average early on and not unit-scaled
        assert means > 0.1 or not torch.allclose(stds, torch.ones_like(stds), atol=1e-2)


def test_resume_continues_step_count(run_exp, tmp_path):
    first = run_exp(["experiment=ppo_cartpole", *FAST, "model.total_timesteps=256"], subdir="a")
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    assert read_checkpoint(last)["lab_rl"]["env_steps"] == 256
    resumed = run_exp(["experiment=ppo_cartpole", *FAST, "model.total_timesteps=512", f"ckpt_path={last}"], subdir="b")
    assert first["trainer/global_step"] == 2 * 20  # 2 rollouts of 4 x 32 steps, 10 passes x 2 minibatches each
    assert resumed["trainer/global_step"] == 4 * 20
    assert resumed["train/env_steps"] == 512


def test_solve_time_comes_from_the_periodic_deterministic_eval(run_exp, caplog):
    # the chain's optimum (0.4) is its solved threshold; evaluate every epoch and stop once solved
    with caplog.at_level(logging.INFO, logger="lab"):
        metrics = run_exp(["experiment=ppo_chain", "test=false", "model.eval_every=1", "model.stop_on_solve=true",
                           "model.total_timesteps=20000"])
    assert metrics["eval/return_mean"] == pytest.approx(0.4, abs=1e-5)
    assert 0 < metrics["perf/solve_env_steps"] == metrics["train/env_steps"] < 20000
    assert 0 < metrics["time/solve_seconds"] <= metrics["time/fit_seconds"]
    solved = [r.getMessage() for r in caplog.records if r.getMessage().startswith("solved at")]
    assert solved == [f"solved at {int(metrics['perf/solve_env_steps']):,} env steps, "
                      f"{metrics['time/solve_seconds']:.1f} s: eval/return_mean 0.4 >= 0.4; "
                      "stopping (model.stop_on_solve)"]
    caplog.clear()
    unsolved = run_exp(["experiment=ppo_chain", "test=false", "model.total_timesteps=256"], subdir="b")
    assert "time/solve_seconds" not in unsolved and "perf/solve_env_steps" not in unsolved
    assert not [r for r in caplog.records if r.getMessage().startswith("solved at")]


def test_unknown_env_in_experiment_is_a_lab_error(run_exp):
    with pytest.raises(LabError, match="unknown env id 'CartPole-v99'"):
        run_exp(["experiment=ppo_cartpole", "model.env_id=CartPole-v99"])


def test_evaluate_script_plays_and_records(run_exp, tmp_path, capsys):
    run_exp(["experiment=ppo_chain", *FAST, "model.total_timesteps=128"])
    from lab.commands import evaluate

    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    metrics = evaluate.main([f"ckpt={ckpt}", "episodes=3", "video=true", "wandb=false", f"out={tmp_path / 'v'}"])
    assert "lab/Chain-v0: 3 episodes, return mean" in capsys.readouterr().out
    import imageio.v2 as imageio

    frames = imageio.mimread(metrics["video"])
    assert len(frames) >= 2 and frames[0].ndim == 3
    with pytest.raises(LabError, match="format=avi is not supported"):
        evaluate.evaluate([f"ckpt={ckpt}", "format=avi"])
    with pytest.raises(SystemExit) as exit_:  # the console command: one line on stderr, status 2
        evaluate.main([f"ckpt={ckpt}", "format=avi"])
    assert exit_.value.code == 2 and "error: format=avi is not supported" in capsys.readouterr().err


@pytest.mark.slow
def test_ppo_solves_cartpole(run_exp):
    metrics = run_exp(["experiment=ppo_cartpole"])  # stops once the every-epoch eval reaches 475 (~25k env steps)
    assert metrics["perf/solve_env_steps"] == metrics["train/env_steps"] <= 61_440
    assert metrics["eval/return_mean"] >= 475


@pytest.mark.slow
def test_a2c_reaches_200_on_cartpole(run_exp):
    metrics = run_exp(["experiment=a2c_cartpole", "model.total_timesteps=100000"])
    assert metrics["eval/return_mean"] >= 200


@pytest.mark.slow
def test_reinforce_improves_over_random(run_exp):
    metrics = run_exp(["experiment=reinforce_cartpole", "model.total_timesteps=60000"])
    assert metrics["eval/return_mean"] >= 100  # a random policy averages ~22


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ppo", "a2c", "reinforce"])
def test_agents_reach_the_chain_optimum(run_exp, algo):
    metrics = run_exp([f"experiment={algo}_chain"])
    assert metrics["eval/return_mean"] == pytest.approx(0.4, abs=1e-5)  # the known optimal return


@pytest.mark.parametrize("algorithm", ["ppo", "a2c", "reinforce"])
def test_lab_cartpole_experiments_are_the_cartpole_recipe_on_the_torch_env(algorithm):
    from omegaconf import OmegaConf

    from lab.train import compose_config

    torch_env, gym_env = (OmegaConf.to_container(compose_config([f"experiment={name}"]), resolve=False)
                          for name in (f"{algorithm}_lab_cartpole", f"{algorithm}_cartpole"))
    assert torch_env["model"].pop("env_id") == "lab/CartPole-v1" and gym_env["model"].pop("env_id") == "CartPole-v1"
    assert torch_env.pop("name") == f"{algorithm}_lab_cartpole" and gym_env.pop("name") == f"{algorithm}_cartpole"
    assert torch_env == gym_env
