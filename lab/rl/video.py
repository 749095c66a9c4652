"""Episode videos: frames in, a GIF (short episodes) or an MP4 (long ones) out, and MuJoCo scenes cheap to render.

A GIF is what a browser, a README or W&B shows inline, but its encoder costs ~19 ms a 480x480 frame and its file
grows with every frame; MP4 through imageio's ffmpeg plugin (imageio-ffmpeg) writes the same frames ~6x faster
and ~7x smaller. `VideoWriter` keeps up to `GIF_MAX_FRAMES` frames; one more and it streams them all to an MP4
encoder, so a long episode is never held in memory. A path with a suffix (.gif / .mp4) fixes the format.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

GIF_MAX_FRAMES = 300  # 10 s at 30 frames/s


class VideoWriter:
    def __init__(self, path: str | Path, fps: float, gif_max_frames: int = GIF_MAX_FRAMES) -> None:
        self.path, self.fps = Path(path), float(fps)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.format = self.path.suffix[1:] or None  # None: GIF or MP4 by length
        self.gif_max_frames = gif_max_frames if self.format is None else (0 if self.format == "mp4" else None)
        self.frames: list[np.ndarray] = []
        self._mp4 = None

    def append(self, frame: np.ndarray) -> None:
        if self._mp4 is not None:
            self._mp4.append_data(frame)
            return
        self.frames.append(frame)
        if self.gif_max_frames is not None and len(self.frames) > self.gif_max_frames:
            self._open_mp4()

    def _open_mp4(self) -> None:
        import imageio.v2 as imageio

        self.path = self.path.with_suffix(".mp4")
        # even sizes (yuv420p) without imageio's resize to multiples of 16 (Atari's screen is 210x160)
        # x264's veryfast preset: half the encoding time of its default on a 2-core CPU, files no larger
        self._mp4 = imageio.get_writer(self.path, fps=self.fps, macro_block_size=2,
                                       ffmpeg_params=["-preset", "veryfast"])
        for frame in self.frames:
            self._mp4.append_data(frame)
        self.frames = []

    def close(self) -> Path:
        """Write what is left; returns the video's path (its suffix says the format chosen)."""
        import imageio.v2 as imageio

        if self._mp4 is None and self.format != "mp4":
            self.path = self.path.with_suffix(".gif")
            imageio.mimsave(self.path, self.frames, duration=1000 / self.fps, loop=0)
        elif self._mp4 is None:
            self._open_mp4()
        if self._mp4 is not None:
            self._mp4.close()
        self.frames = []
        return self.path


def fast_mujoco_render(env) -> None:
    """Render a MuJoCo env's scene without shadows, reflections or multisampling (rendering only; the physics is
    untouched): on a CPU's software OpenGL (Mesa llvmpipe) a 480x480 HalfCheetah frame takes ~8 ms instead of
    ~110 ms. Call before the first `render()` (the multisampling is fixed when the renderer is made)."""
    model = getattr(env.unwrapped, "model", None)
    if model is None or not hasattr(model, "light_castshadow"):
        return
    model.vis.quality.offsamples = 0
    model.light_castshadow[:] = 0
    model.mat_reflectance[:] = 0
