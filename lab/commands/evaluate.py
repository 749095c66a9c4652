"""lab-evaluate: play an RL checkpoint for N episodes, print mean and std return; optionally record a video.

    lab-evaluate ckpt=outputs/ppo_cartpole/.../checkpoints/last.ckpt episodes=20
    lab-evaluate ckpt=PATH episodes=5 video=true          # + <run dir>/videos/*.gif or *.mp4, logged to W&B
format is auto (GIF up to 300 frames, MP4 above), gif or mp4; out is the video folder (default <run dir>/videos);
video_view (Atari) is game (the game's RGB screen) or agent (the 84x84 grayscale frames the agent sees).
"""

from __future__ import annotations

import os
from pathlib import Path

from lab.commands.args import parse_args, run_cli
from lab.errors import LabError

DEFAULTS = {"ckpt": None, "episodes": 20, "deterministic": True, "seed": 12345, "video": False, "format": "auto",
            "video_view": "game", "out": None, "wandb": True}


def log_video(path: Path, name: str, out_dir: Path, metrics: dict) -> None:
    """Send the video and the returns to W&B (offline when no API key is set)."""
    from lab.run.wandb_mode import choose_wandb_mode

    choose_wandb_mode()
    import wandb

    run = wandb.init(project="lab", name=f"{name}-eval", job_type="eval", dir=str(out_dir), reinit="finish_previous")
    run.log({"eval/video": wandb.Video(str(path), format=path.suffix[1:]), **metrics})
    run.finish()


def evaluate(argv: list[str]) -> dict:
    args = parse_args(argv, DEFAULTS, required=("ckpt",))
    if args["format"] not in ("auto", "gif", "mp4"):
        raise LabError(f"format={args['format']} is not supported; use format=auto, format=gif or format=mp4")
    if args["video_view"] not in ("game", "agent"):
        raise LabError(f"video_view={args['video_view']} is not supported; use video_view=game or video_view=agent")
    if int(args["episodes"]) < 1:
        raise LabError(f"episodes must be >= 1, got {args['episodes']}")
    from lab.run.checkpoint import load_module

    module, cfg = load_module(args["ckpt"])
    if not hasattr(module, "evaluate"):
        raise LabError(f"checkpoint {args['ckpt']} holds a {type(module).__name__}, not an RL agent; "
                       "lab-evaluate plays episodes with RL checkpoints (ppo_*, a2c_*, dqn_*, sac_*, ...)")
    env_id = module.hparams.env_id
    returns, lengths = module.evaluate(int(args["episodes"]), deterministic=bool(args["deterministic"]),
                                       seed=int(args["seed"]))
    metrics = {"eval/return_mean": float(returns.mean()), "eval/return_std": float(returns.std()),
               "eval/episode_length": float(lengths.mean())}
    print(f"{env_id}: {len(returns)} episodes, return mean {returns.mean():.2f} std {returns.std():.2f} "
          f"(episode length mean {lengths.mean():.1f})")
    if args["video"]:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        from lab.rl.evaluate import record_episode

        run_dir = Path(args["ckpt"]).resolve().parent.parent
        out_dir = Path(args["out"]) if args["out"] else run_dir / "videos"
        suffix = "" if args["format"] == "auto" else f".{args['format']}"
        path = out_dir / f"{cfg.get('name', 'agent')}_episode{suffix}"
        path, total = record_episode(env_id, lambda obs: module.act(obs, bool(args["deterministic"])), path,
                                     seed=int(args["seed"]), view=args["video_view"])
        print(f"video: {path} (return {total:.2f})")
        metrics["video"] = str(path)
        if args["wandb"]:
            log_video(path, cfg.get("name", "agent"), out_dir, {k: v for k, v in metrics.items() if k != "video"})
    return metrics


def main(argv: list[str] | None = None) -> dict | None:
    """Console entry point (`lab-evaluate`)."""
    return run_cli(evaluate, argv, __doc__, DEFAULTS, required=("ckpt",))
