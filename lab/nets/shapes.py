"""Shape checks shared by the generative nets: latent sizes and image sizes a conv stack can take."""

from __future__ import annotations

from typing import Sequence

from lab.errors import LabError


def check_latent(latent_dim: int) -> int:
    if not isinstance(latent_dim, int) or latent_dim <= 0:
        raise LabError(f"latent size must be a positive integer, got {latent_dim!r}; set model.latent_dim=2 (or 16, 64)")
    return latent_dim


def check_conv_image(image_shape: Sequence[int], who: str) -> tuple[int, int, int]:
    """A (C, H, W) shape with square sides divisible by 4 (two stride-2 stages): 28x28 and 32x32 both fit."""
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] % 4 or shape[1] < 8:
        raise LabError(f"{who} takes square (C, H, W) images with H divisible by 4 (e.g. [1, 28, 28] or "
                       f"[3, 32, 32]), got {list(shape)}; use the MLP variant for other shapes")
    return shape
