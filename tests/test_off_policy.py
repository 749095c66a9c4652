"""DQN, TD3/DDPG and SAC through lab.train: targets by hand, the env/gradient-step schedule, resume with the replay
buffer, errors, smoke runs of every experiment, and convergence (marked slow)."""

from __future__ import annotations

import math
import os

import pytest
import torch
from torch import nn

import lab.models.off_policy as off_policy
from lab.run.checkpoint import load_module, read_checkpoint
from lab.errors import LabError
from lab.models.dqn import double_dqn_target
from lab.models.sac import soft_q_target, squashed_gaussian
from lab.models.td3 import td3_target

os.environ.setdefault("MUJOCO_GL", "egl")

SMALL_Q = ["model.q_net.hidden=[32,32]", "model.n_step=1"]  # 1-step: the tests that count stored transitions
SMALL_AC = ["model.actor.hidden=[32,32]", "model.critic.hidden=[32,32]"]


def build(overrides):
    from hydra.utils import instantiate

    from lab.train import compose_config

    return instantiate(compose_config(overrides).model, _convert_="all")


# ----- targets computed by hand -------------------------------------------------------------------------------

def test_double_dqn_target_by_hand():
    rewards = torch.tensor([1.0, 0.5, -1.0])
    terminated = torch.tensor([False, True, False])
    online = torch.tensor([[1.0, 3.0], [5.0, 0.0], [2.0, 1.0]])  # argmax: 1, 0, 0
    target = torch.tensor([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]])
    # double: row 0 takes target[0, 1] = 20 -> 1 + 0.9 * 20 = 19; row 1 terminated -> 0.5; row 2 target[2, 0] = 50
    # -> -1 + 45 = 44. Plain DQN takes the target net's max: 1 + 18 = 19, 0.5, -1 + 0.9 * 60 = 53.
    assert double_dqn_target(rewards, terminated, 0.9, online, target).tolist() == pytest.approx([19.0, 0.5, 44.0])
    assert double_dqn_target(rewards, terminated, 0.9, online, target, double=False).tolist() == pytest.approx(
        [19.0, 0.5, 53.0])


class FixedQ(nn.Module):
    """Q-values that do not depend on the input: row i of `table` for the i-th observation."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(torch.tensor(table))

    def forward(self, x):
        return self.table[: x.shape[0]]


def test_dqn_module_uses_the_double_target():
    agent = build(["experiment=dqn_cartpole", "model.gamma=0.9"])
    agent.q, agent.q_target = FixedQ([[1.0, 3.0], [4.0, 2.0]]), FixedQ([[10.0, 20.0], [30.0, 40.0]])
    agent._q, agent._q_target = agent.q, agent.q_target
    batch = {"next_obs": torch.zeros(2, 4), "rewards": torch.tensor([1.0, 2.0]),
             "terminated": torch.tensor([False, False]), "discount": 0.9}
    # online argmax 1 and 0 -> target values 20 and 30: 1 + 18, 2 + 27
    assert agent.td_target(batch).tolist() == pytest.approx([19.0, 29.0])


def test_sac_soft_target_by_hand():
    rewards = torch.tensor([1.0, -2.0])
    terminated = torch.tensor([False, True])
    # min(5, 4) - 0.5 * (-2) = 5 -> 1 + 0.99 * 5 = 5.95; the terminated row is its reward
    y = soft_q_target(rewards, terminated, 0.99, torch.tensor([5.0, 7.0]), torch.tensor([4.0, 9.0]),
                      torch.tensor([-2.0, 1.0]), 0.5)
    assert y.tolist() == pytest.approx([5.95, -2.0])
    # TD3: min(3, 2) = 2 -> 1 + 0.5 * 2 = 2; DDPG (one critic): 1 + 0.5 * 3
    assert td3_target(rewards[:1], terminated[:1], 0.5, torch.tensor([3.0]), torch.tensor([2.0])).item() == 2.0
    assert td3_target(rewards[:1], terminated[:1], 0.5, torch.tensor([3.0]), None).item() == 2.5


def test_squashed_gaussian_log_prob_has_the_tanh_correction():
    mean, log_std = torch.tensor([[0.3, -1.0]]), torch.tensor([[-0.5, 0.2]])
    noise = torch.tensor([[0.7, -1.3]])
    action, log_prob = squashed_gaussian(mean, log_std, noise)
    u = mean + log_std.exp() * noise
    base = torch.distributions.Normal(mean, log_std.exp())
    # change of variables by hand: log p(a) = log N(u) - log |d tanh(u) / du| = log N(u) - log(1 - tanh(u)^2)
    expected = (base.log_prob(u) - torch.log(1 - torch.tanh(u) ** 2)).sum(-1)
    assert torch.allclose(action, torch.tanh(u))
    assert torch.allclose(log_prob, expected, atol=1e-5)


# ----- the schedule: env steps, gradient steps, targets, epsilon ----------------------------------------------

def test_dqn_schedule_polyak_and_epsilon_advance_exactly_as_configured(run_exp, monkeypatch):
    from lab.models.dqn import DQN

    polyak_calls, epsilons = [], []
    original_polyak, original_explore = off_policy.polyak, DQN.explore

    def spy_polyak(targets, onlines, tau):
        before = [t.detach().clone() for t in targets]
        original_polyak(targets, onlines, tau)
        polyak_calls.append(all(torch.allclose(t, (1 - tau) * b + tau * o) for t, b, o in zip(targets, before, onlines)))

    def spy_explore(self, obs):
        steps = self.env_steps
        actions = original_explore(self, obs)
        epsilons.append((steps, self.epsilon))
        return actions

    monkeypatch.setattr(off_policy, "polyak", spy_polyak)
    monkeypatch.setattr(DQN, "explore", spy_explore)
    # 2 envs x train_freq 8 = 16 env steps per cycle; 64 cycles; gradient steps (3 a cycle) once env_steps > 200,
    # i.e. from the 13th cycle (208 env steps): 52 cycles x 3 = 156. Target every 5 gradient steps with tau 0.25.
    metrics = run_exp(["experiment=dqn_cartpole", *SMALL_Q, "model.num_envs=2", "model.train_freq=8",
                       "model.gradient_steps=3", "model.learning_starts=200", "model.total_timesteps=1024",
                       "model.steps_per_epoch=256", "model.target_update_interval=5", "model.tau=0.25",
                       "model.exploration_fraction=0.5", "model.exploration_initial_eps=1.0",
                       "model.exploration_final_eps=0.1", "model.eval_every=0", "test=false"])
    assert metrics["train/env_steps"] == 1024
    assert metrics["trainer/global_step"] == metrics["train/grad_steps"] == 52 * 3
    assert metrics["train/target_updates"] == 156 // 5 and len(polyak_calls) == 31 and all(polyak_calls)
    assert [s for s, _ in epsilons] == list(range(0, 1024, 2))  # one exploration decision per vector step
    for steps, eps in epsilons:  # linear 1.0 -> 0.1 over 0.5 * 1024 env steps, then flat
        assert eps == pytest.approx(1.0 - 0.9 * min(1.0, steps / 512), abs=1e-12)
    assert metrics["train/epsilon"] == pytest.approx(0.1)
    # next-step autoreset: the reset step after each finished episode is not stored (nor counted as an episode
    # step); an episode ending on one of the 2 envs' very last step has had no reset step yet
    stored, episodes = metrics["train/buffer_size"], metrics["train/episodes"]
    assert episodes > 10 and 1024 - episodes <= stored <= 1024 - episodes + 2


def test_gradient_steps_minus_one_means_one_per_env_step_and_sac_td3_update_targets_as_configured(run_exp):
    dqn = run_exp(["experiment=dqn_cartpole", *SMALL_Q, "model.num_envs=2", "model.train_freq=4",
                   "model.gradient_steps=-1", "model.learning_starts=0", "model.total_timesteps=400",
                   "model.steps_per_epoch=200", "model.eval_every=0", "test=false"], subdir="dqn")
    assert dqn["trainer/global_step"] == 400  # learning_starts=0: all 50 cycles train, 2 envs x train_freq 4 = 8 each
    sac = run_exp(["experiment=sac_pendulum", *SMALL_AC, "model.total_timesteps=400", "model.learning_starts=100",
                   "model.steps_per_epoch=200", "model.target_update_interval=3", "model.eval_every=0",
                   "model.batch_size=32", "test=false"], subdir="sac")
    assert sac["trainer/global_step"] == 300  # gradient steps after env step 100 (steps 101..400)
    assert sac["train/target_updates"] == 100
    for key in ("train/critic_loss", "train/actor_loss", "train/q_mean", "train/entropy", "train/alpha",
                "train/buffer_fill", "perf/grad_steps_per_sec", "perf/env_steps_per_sec", "train/return_mean"):
        assert key in sac, key
    td3 = run_exp(["experiment=td3_pendulum", *SMALL_AC, "model.total_timesteps=400", "model.learning_starts=100",
                   "model.steps_per_epoch=200", "model.policy_delay=3", "model.eval_every=0", "model.batch_size=32",
                   "test=false"], subdir="td3")
    assert td3["trainer/global_step"] == 300 and td3["train/target_updates"] == 100  # actor + targets every 3rd


# ----- resume --------------------------------------------------------------------------------------------------

def test_resume_with_the_replay_buffer_ends_with_the_same_counters(run_exp, tmp_path):
    common = ["experiment=dqn_cartpole", *SMALL_Q, "model.total_timesteps=2048", "model.steps_per_epoch=512",
              "model.train_freq=16", "model.gradient_steps=8", "model.learning_starts=300",
              "model.target_update_interval=10", "model.eval_every=0", "test=false",
              "callbacks.model_checkpoint.monitor=null"]
    whole = run_exp(common, subdir="whole")
    run_exp([*common, "trainer.max_epochs=2"], subdir="first")  # stopped after 2 of 4 epochs
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    checkpoint = read_checkpoint(last)
    assert checkpoint["lab_rl"]["env_steps"] == 1024
    replay = checkpoint["lab_replay"]
    # every env step but the reset steps after finished episodes (none yet after one ending on the last step)
    assert 0 <= replay["size"] - (1024 - checkpoint["lab_rl"]["episodes"]) <= 1
    assert replay["storage"]["obs"].shape == (replay["size"], 4)
    assert checkpoint["lab_off_policy"]["epsilon"] < 1.0
    assert any(k.startswith("q_target.") for k in checkpoint["state_dict"])
    resumed = run_exp([*common, f"ckpt_path={last}"], subdir="second")
    for key in ("train/env_steps", "trainer/global_step", "train/grad_steps", "train/target_updates", "train/epsilon"):
        assert resumed[key] == whole[key], key
    assert resumed["trainer/global_step"] == 110 * 8  # cycles 19..128 (16 x 19 = 304 > 300) x 8 gradient steps
    # the buffer came back: the resumed run holds the first run's transitions plus its own
    assert resumed["train/buffer_size"] > 1024 + 700


def test_checkpoint_rebuilds_an_agent_that_evaluates_and_acts(run_exp, tmp_path):
    run_exp(["experiment=sac_pendulum", *SMALL_AC, "model.total_timesteps=300", "model.steps_per_epoch=300",
             "model.eval_every=0", "test=false", "model.save_replay_buffer=false",
             "callbacks.model_checkpoint.monitor=null"])
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert "lab_replay" not in read_checkpoint(last)
    module, _ = load_module(last)
    returns, lengths = module.evaluate(2, deterministic=True, seed=5)
    assert returns.shape == (2,) and (lengths == 200).all() and module.hparams.env_id == "Pendulum-v1"
    actions = module.act(torch.zeros(3, 3), True)
    assert actions.shape == (3, 1) and (actions.abs() <= 2.0).all()  # scaled to Pendulum's torque bounds


def test_dqn_variants_and_bf16_sac_run(run_exp):
    # the lab's torch CartPole (same-step autoreset, final obs from info), 4 envs, 3-step returns, dueling head
    dqn = run_exp(["experiment=dqn_cartpole", *SMALL_Q, "model.env_id=lab/CartPole-v1", "model.num_envs=4",
                   "model.n_step=3", "model.dueling=true", "model.double=false", "model.total_timesteps=1024",
                   "model.learning_starts=256", "model.train_freq=4", "model.gradient_steps=2",
                   "model.steps_per_epoch=512", "model.eval_episodes=4"], subdir="dqn")
    assert dqn["trainer/global_step"] == (1024 - 256) // 16 * 2 and dqn["train/env_steps"] == 1024
    assert math.isfinite(dqn["train/loss"]) and dqn["eval/return_mean"] > 0
    sac = run_exp(["experiment=sac_pendulum", *SMALL_AC, "model.total_timesteps=400", "model.steps_per_epoch=200",
                   "model.batch_size=32", "trainer.precision=bf16-mixed", "model.eval_episodes=2"], subdir="sac")
    assert sac["trainer/global_step"] == 300 and math.isfinite(sac["train/critic_loss"])


def test_a_mujoco_agent_plays_a_video(run_exp, tmp_path):
    from lab.rl.evaluate import record_episode

    run_exp(["experiment=sac_invertedpendulum", *SMALL_AC, "model.total_timesteps=200", "model.learning_starts=100",
             "model.steps_per_epoch=200", "model.batch_size=32", "model.eval_every=0", "test=false",
             "callbacks.model_checkpoint.monitor=null"])
    module, _ = load_module(tmp_path / "run" / "checkpoints" / "last.ckpt")
    path, total = record_episode(module.hparams.env_id, lambda obs: module.act(obs, True), tmp_path / "ip.gif",
                                 max_frames=30)
    assert path.stat().st_size > 1000 and total >= 1.0  # InvertedPendulum pays 1 per step alive


# ----- bad input -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("experiment,env,message", [
    ("dqn_cartpole", "Pendulum-v1", r"DQN needs a Discrete action space; Pendulum-v1 has Box\(.*\): use sac, td3, ddpg or ppo"),
    ("sac_pendulum", "CartPole-v1", r"SAC needs a continuous \(1-D Box\) action space; CartPole-v1 has Discrete\(2\): "
                                    r"use dqn, ppo, a2c or reinforce"),
    ("ddpg_pendulum", "Acrobot-v1", r"DDPG needs a continuous .* Acrobot-v1 has Discrete\(3\): use dqn"),
])
def test_wrong_action_space_is_one_clear_error(run_exp, experiment, env, message):
    with pytest.raises(LabError, match=message):
        run_exp([f"experiment={experiment}", f"model.env_id={env}"])


# ----- smoke runs of every experiment --------------------------------------------------------------------------

EXPERIMENTS = ["dqn_cartpole", "dqn_acrobot", "dqn_mountaincar", "dqn_lunarlander", "sac_pendulum", "td3_pendulum",
               "ddpg_pendulum", "sac_lunarlander_continuous", "sac_invertedpendulum", "sac_halfcheetah",
               "td3_halfcheetah", "sac_hopper"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_off_policy_experiment_runs(run_exp, experiment):
    metrics = run_exp([f"experiment={experiment}", "model.total_timesteps=256", "model.learning_starts=128",
                       "model.steps_per_epoch=128", "model.eval_every=2", "model.eval_episodes=2",
                       "model.batch_size=32", "model.gradient_steps=1"])
    assert metrics["train/env_steps"] >= 256 and metrics["trainer/global_step"] > 0
    for key in ("eval/return_mean", "eval/return_std", "perf/env_steps_per_sec", "perf/grad_steps_per_sec",
                "train/buffer_size"):
        assert math.isfinite(metrics[key]), key


# ----- convergence ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_dqn_solves_cartpole(run_exp):
    # the experiment as shipped (RL-Zoo's 50k-step budget; seeds 0-4 solved at 4k, 8k, 5k, 4k and 7k env steps)
    metrics = run_exp(["experiment=dqn_cartpole"])
    assert metrics["eval/return_mean"] >= 475  # the test stage: 20 deterministic episodes of the best checkpoint
    assert metrics["perf/solve_env_steps"] <= 50000 and metrics["time/solve_seconds"] > 0


@pytest.mark.slow
def test_sac_learns_pendulum_within_15k_steps(run_exp):
    metrics = run_exp(["experiment=sac_pendulum", "model.total_timesteps=15000", "model.solved_threshold=-250"])
    assert metrics["eval/return_mean"] >= -250 and metrics["perf/solve_env_steps"] <= 15000


@pytest.mark.slow
def test_td3_learns_pendulum(run_exp):
    metrics = run_exp(["experiment=td3_pendulum", "model.actor.hidden=[64,64]", "model.critic.hidden=[64,64]",
                       "model.learning_starts=1000", "model.total_timesteps=10000", "model.solved_threshold=-400",
                       "model.stop_on_solve=true"])
    assert metrics["eval/return_mean"] >= -400


@pytest.mark.slow
def test_dqn_reaches_the_chain_optimum(run_exp):
    # lab/Chain-v0: walk right 7 steps, optimal return 0.4 (the env's solved threshold)
    metrics = run_exp(["experiment=dqn_cartpole", "model.env_id=lab/Chain-v0", "model.q_net.hidden=[32]",
                       "model.total_timesteps=5000", "model.learning_starts=200", "model.train_freq=4",
                       "model.gradient_steps=1", "model.target_update_interval=50", "model.batch_size=32",
                       "model.steps_per_epoch=500", "model.exploration_fraction=0.3", "model.gamma=0.95"])
    assert metrics["eval/return_mean"] == pytest.approx(0.4, abs=1e-5)


# ----- DDP: each rank its own envs and buffer, gradients all-reduced ---------------------------------------------

def ddp_run(tmp_path, name, overrides):
    import subprocess
    import sys

    from tests.conftest import REPO
    from tests.test_scale_ddp import env, free_port

    run_dir = tmp_path / name
    command = [sys.executable, str(REPO / "scripts" / "train.py"), *overrides, *SMALL_AC, "model.batch_size=32",
               "model.total_timesteps=800", "model.steps_per_epoch=200", "model.learning_starts=200",
               "model.eval_every=0", "test=false", "callbacks.model_checkpoint.monitor=null", "logger=none",
               "trainer=ddp", "trainer.devices=2", "trainer.enable_progress_bar=false",
               "+callbacks.rank_report._target_=lab.callbacks.rank_report.RankReport", f"hydra.run.dir={run_dir}"]
    result = subprocess.run(command, cwd=tmp_path, env=env(MASTER_PORT=str(free_port())), capture_output=True,
                            text=True, timeout=300)
    return result, run_dir


@pytest.mark.slow
def test_off_policy_under_ddp_ranks_share_the_budget_and_stay_in_sync(tmp_path):
    import json

    # 2 ranks x 1 env: 2 env steps per cycle; gradient steps once env_steps > 200 -> cycles 101..400 = 300 each
    result, run_dir = ddp_run(tmp_path, "sac", ["experiment=sac_pendulum"])
    assert result.returncode == 0, result.stderr[-2000:]
    reports = [json.loads((run_dir / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["global_step"] for r in reports] == [300, 300]
    params = [torch.load(run_dir / "ranks" / f"rank{r}.pt") for r in (0, 1)]
    assert all(torch.equal(params[0][k], params[1][k]) for k in params[0])  # critics, actor, targets, alpha
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train/env_steps"] == 800 and metrics["train/buffer_size"] <= 400  # each rank its own 400 steps
    # TD3's critic-only steps leave the actor without gradients: plain DDP must be told, with a clear message
    result, _ = ddp_run(tmp_path, "td3", ["experiment=td3_pendulum"])
    assert result.returncode != 0 and "trainer.strategy=ddp_find_unused_parameters_true" in result.stderr
