"""Episode videos: GIF for short episodes, MP4 (every frame, streamed) for long ones, a fixed suffix obeyed."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest

from lab.rl.video import VideoWriter


def frames(n: int) -> list[np.ndarray]:
    return [np.full((32, 48, 3), i % 256, dtype=np.uint8) for i in range(n)]


@pytest.mark.parametrize("n, suffix", [(300, ".gif"), (301, ".mp4")])
def test_the_format_follows_the_length(tmp_path, n, suffix):
    video = VideoWriter(tmp_path / "episode", fps=30, gif_max_frames=300)
    for frame in frames(n):
        video.append(frame)
    path = video.close()
    assert path == tmp_path / f"episode{suffix}"
    read = imageio.mimread(path, memtest=False)
    assert len(read) == n and read[0].shape == (32, 48, 3)
    assert abs(int(read[-1].mean()) - (n - 1) % 256) <= 2  # the last frame is the last one appended


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_suffix_fixes_the_format(tmp_path, suffix):
    video = VideoWriter(tmp_path / f"short{suffix}", fps=30, gif_max_frames=2)
    for frame in frames(5):
        video.append(frame)
    path = video.close()
    assert path.suffix == suffix and len(imageio.mimread(path, memtest=False)) == 5
