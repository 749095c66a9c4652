"""Atari from pixels: the preprocessing contract of lab.rl.atari, the Nature CNN, and PPO/DQN smoke runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.nets.nature_cnn import NatureCNN, NatureTorso
from lab.rl.vec import VecEnv


def play(env_id: str, train: bool, steps: int, seed: int = 3, num_envs: int = 1):
    """Random play with a fixed action sequence; every step's (obs, reward, terminated, truncated, lives)."""
    env = VecEnv(env_id, num_envs, seed=seed, train=train)
    actions = np.random.default_rng(0).integers(0, env.single_action_space.n, (steps, num_envs))
    trace = [(env.reset().numpy(), None, None, None, None)]
    for t in range(steps):
        obs, reward, terminated, truncated, _ = env.step(torch.as_tensor(actions[t]))
        trace.append((np.asarray(obs), np.asarray(reward), np.asarray(terminated), np.asarray(truncated), None))
    scores = list(env.game_scores)
    env.close()
    return trace, scores


def test_observations_are_stacked_uint8_frames():
    env = VecEnv("BreakoutNoFrameskip-v4", 2, seed=0)
    obs = env.reset()
    assert obs.dtype == torch.uint8 and obs.shape == (2, 4, 84, 84)
    assert env.single_observation_space.shape == (4, 84, 84) and env.single_action_space.n == 4
    assert not obs[:, :3].any() and obs[:, 3].any()  # zeros before an episode's first frame
    next_obs = torch.as_tensor(env.step(torch.tensor([1, 1]))[0])
    assert torch.equal(next_obs[:, :3], obs[:, 1:])  # the stack shifts by one frame a step
    env.close()


def test_same_seed_and_actions_give_the_same_frames():
    first, _ = play("BreakoutNoFrameskip-v4", True, 200, seed=5)
    second, _ = play("BreakoutNoFrameskip-v4", True, 200, seed=5)
    other, _ = play("BreakoutNoFrameskip-v4", True, 200, seed=6)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, second))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))  # no-op starts follow the seed


def test_a_lost_life_ends_a_training_episode_but_not_an_evaluation_game():
    train, train_scores = play("BreakoutNoFrameskip-v4", True, 1500)
    evaluation, eval_scores = play("BreakoutNoFrameskip-v4", False, 1500)
    train_done = [bool(t[2][0]) for t in train[1:]]
    eval_done = [bool(t[2][0]) for t in evaluation[1:]]
    # Breakout has 5 lives: a training episode ends at each, an evaluation game only at the last
    assert sum(train_done) >= 5 * max(1, sum(eval_done)) and sum(eval_done) >= 1
    # the game goes on after a lost life: the step after it continues the frames (no new episode's zero padding)
    first_loss = train_done.index(True)
    after = train[first_loss + 2][0][0]
    assert after[:3].any()
    # the same game, seed and actions: the raw score of each training game is the evaluation game's score
    assert train_scores and train_scores[0] == eval_scores[0]


def test_training_rewards_are_clipped_and_evaluation_keeps_the_raw_score():
    # Space Invaders pays 5-30 points an alien: clipping shows
    train, train_scores = play("SpaceInvadersNoFrameskip-v4", True, 1200)
    evaluation, eval_scores = play("SpaceInvadersNoFrameskip-v4", False, 1200)
    train_rewards = np.concatenate([t[1] for t in train[1:]])
    eval_rewards = np.concatenate([t[1] for t in evaluation[1:]])
    assert set(np.unique(train_rewards)) <= {0.0, 1.0} and train_rewards.sum() > 0
    assert eval_rewards.max() >= 5  # raw points
    game = int(np.argmax(np.concatenate([t[2] for t in evaluation[1:]])))  # the end of the first game
    assert eval_scores[0] == pytest.approx(eval_rewards[: game + 1].sum())
    assert train_scores[0] == eval_scores[0] > train_rewards.sum() / 2


def test_nature_cnn_takes_uint8_frames():
    frames = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    q = NatureCNN((4, 84, 84), 6)
    assert q(frames).shape == (3, 6)
    assert sum(p.numel() for p in q.parameters()) == 1_687_206  # the Nature DQN's size for 6 actions
    torch.testing.assert_close(q(frames), q(frames.float() / 255))
    assert NatureTorso((4, 84, 84)).out_features == 512 and NatureTorso((4, 84, 84))(frames).shape == (3, 512)
    with pytest.raises(ValueError, match=r"needs the observation shape \(C, H, W\), got the flat size 28224"):
        NatureCNN(28224, 4)


def test_nature_cnn_runs_channels_last_with_the_plain_layout_result():
    torch.manual_seed(0)
    q = NatureCNN((4, 84, 84), 6)
    assert all(q.convs[i].weight.is_contiguous(memory_format=torch.channels_last) for i in (0, 2, 4))
    frames = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)
    hidden = frames.float() / 255
    for conv in (q.convs[0], q.convs[2], q.convs[4]):  # the same layers, every tensor in the default layout
        hidden = torch.relu(torch.nn.functional.conv2d(hidden, conv.weight.contiguous(), conv.bias, conv.stride))
    torch.testing.assert_close(q(frames), q.out(q.fc(hidden.flatten(1))), atol=1e-5, rtol=1e-5)
    q.out(q.fc(hidden.flatten(1))).sum().backward()
    assert q.convs[0].weight.grad.shape == (32, 4, 8, 8)


def test_nature_cnn_under_bf16_autocast_gives_fp32_q_values_close_to_fp32():
    torch.manual_seed(0)
    q = NatureCNN((4, 84, 84), 4)
    frames = torch.randint(0, 256, (8, 4, 84, 84), dtype=torch.uint8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = q(frames)
        assert q.convs(frames.float()).dtype == torch.bfloat16  # the convolutions do run in bf16
    assert mixed.dtype == torch.float32
    exact = q(frames)
    assert (mixed - exact).abs().max() < 0.02 * exact.abs().max()  # bf16 features, fp32 output layer


def test_frames_are_scaled_once_in_the_dtype_the_convs_run_in():
    from lab.nets.nature_cnn import scaled_frames

    frames = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    exact = scaled_frames(frames)
    assert exact.dtype == torch.float32 and exact.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(exact, frames.float() / 255)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = scaled_frames(frames)
        q = NatureCNN((4, 84, 84), 4)
        torch.testing.assert_close(q(NatureCNN.prepare_input(frames)), q(frames), atol=0, rtol=0)
    assert mixed.dtype == torch.bfloat16 and torch.equal(mixed, (frames.float() / 255).to(torch.bfloat16))
    assert scaled_frames(exact) is exact  # prepared input passes through


SMOKE = {
    "ppo_breakout": ["model.num_envs=2", "model.num_steps=128", "model.num_minibatches=2", "model.update_epochs=1",
                     "model.total_timesteps=1024"],
    "dqn_breakout": ["model.total_timesteps=900", "model.learning_starts=200", "model.buffer_size=2000",
                     "model.steps_per_epoch=300", "model.target_update_interval=20", "model.batch_size=8"],
}


@pytest.mark.parametrize("experiment", ["ppo_breakout", "dqn_breakout"])
def test_atari_smoke_run_checkpoints_resumes_and_plays_a_game(run_exp, tmp_path, experiment):
    import imageio.v2 as imageio

    from lab.commands import evaluate
    from lab.rl.evaluate import record_episode
    from lab.run.checkpoint import load_module, read_checkpoint

    common = [f"experiment={experiment}", *SMOKE[experiment], "model.eval_episodes=1", "model.num_threads=1",
              "callbacks.model_checkpoint.every_n_epochs=1"]
    run_exp([*common, "trainer.max_epochs=2", "test=false"], subdir="first")  # stopped half way
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    checkpoint = read_checkpoint(last)
    total = 1024 if experiment == "ppo_breakout" else 900
    assert 0 < checkpoint["lab_rl"]["env_steps"] < total
    if experiment == "dqn_breakout":  # the frame buffer came along: one byte a pixel, each frame once
        assert checkpoint["lab_replay"]["frames"].dtype == torch.uint8
    resumed = run_exp([*common, f"ckpt_path={last}"], subdir="second")
    # the counters go on from the checkpoint's
    assert resumed["train/env_steps"] == total
    assert resumed["trainer/global_step"] > checkpoint["global_step"] > 0
    assert resumed["train/episodes"] > checkpoint["lab_rl"]["episodes"] > 0
    assert resumed["perf/frames_per_sec"] == pytest.approx(4 * resumed["perf/env_steps_per_sec"])
    # raw scores of whole games (a training episode is one life), and one whole evaluation game
    assert np.isfinite(resumed["train/game_score"]) and np.isfinite(resumed["eval/return_mean"])
    assert resumed["eval/episode_length"] > 0

    # a video of one whole game: as many frames as the game has steps, the game's score
    module, _ = load_module(tmp_path / "second" / "checkpoints" / "last.ckpt")
    returns, lengths = module.evaluate(1, deterministic=True, seed=7)
    act = lambda obs: module.act(obs, True)  # noqa: E731
    for view, shape in (("game", (210, 160, 3)), ("agent", (252, 252, 3))):
        # MP4 keeps every frame (a GIF merges repeated frames into longer ones)
        path, score = record_episode(module.hparams.env_id, act, tmp_path / f"{view}.mp4", seed=7, view=view)
        frames = imageio.mimread(path, memtest=False)
        assert len(frames) == lengths[0] and score == returns[0] and frames[0].shape == shape

    metrics = evaluate.main([f"ckpt={tmp_path / 'second' / 'checkpoints' / 'last.ckpt'}", "episodes=1",
                             "video=true", "wandb=false", f"out={tmp_path / 'cli'}"])
    assert metrics["video"].endswith((".gif", ".mp4")) and np.isfinite(metrics["eval/return_mean"])


@pytest.mark.parametrize("algorithm", ["ppo", "dqn"])
def test_pong_experiments_are_the_breakout_recipe_on_another_game(algorithm):
    from omegaconf import OmegaConf

    from lab.train import compose_config

    pong, breakout = (OmegaConf.to_container(compose_config([f"experiment={algorithm}_{game}"]), resolve=False)
                      for game in ("pong", "breakout"))
    assert pong["model"].pop("env_id") == "PongNoFrameskip-v4" and pong.pop("name") == f"{algorithm}_pong"
    breakout["model"].pop("env_id"), breakout.pop("name")
    assert pong == breakout
