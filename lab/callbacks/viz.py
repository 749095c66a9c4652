"""Pictures people would rather look at than read: image grids and figures, saved and logged.

Figures are drawn with matplotlib's object-oriented API on an Agg canvas of their own: pyplot and the user's
backend (a notebook's inline one, say) are left alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pytorch_lightning.utilities.rank_zero import rank_zero_only


def _is_writer() -> bool:
    """Under DDP every rank computes the pictures; only rank 0 writes them."""
    return getattr(rank_zero_only, "rank", 0) == 0


def new_figure(nrows: int = 1, ncols: int = 1, **kwargs):
    """`(figure, axes)` as `pyplot.subplots` returns them, on an Agg canvas outside pyplot; kwargs: figsize and
    the other `Figure` arguments, or those of `Figure.subplots` (squeeze, sharex, ...)."""
    subplot_keys = ("sharex", "sharey", "squeeze", "width_ratios", "height_ratios", "subplot_kw", "gridspec_kw")
    layout = {key: kwargs.pop(key) for key in subplot_keys if key in kwargs}
    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(nrows, ncols, **layout)


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile images (N, C, H, W) with values in [0, 1] into one (H', W', C) array, row-major."""
    images = images.detach().float().cpu().clamp(0, 1)
    n, c, h, w = images.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol = int(math.ceil(n / nrow))
    grid = np.ones((ncol * (h + padding) + padding, nrow * (w + padding) + padding, c), dtype=np.float32)
    for i in range(n):
        row, col = divmod(i, nrow)
        top, left = padding + row * (h + padding), padding + col * (w + padding)
        grid[top:top + h, left:left + w] = images[i].permute(1, 2, 0).numpy()
    return grid


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 3) -> Path:
    """Write a PNG grid of images (N, C, H, W) in [0, 1], each pixel `scale` pixels wide."""
    path = Path(path)
    if not _is_writer():
        return path
    grid = make_grid(images, nrow)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if grid.shape[2] == 1:
        matplotlib.image.imsave(path, grid[:, :, 0], cmap="gray", vmin=0, vmax=1)
    else:
        matplotlib.image.imsave(path, grid)
    return path


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write a matplotlib figure to PNG (rank 0 only)."""
    path = Path(path)
    if not _is_writer():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return path


def image_path(trainer, key: str) -> Path:
    """Where a run keeps the latest picture of `key` ('/' becomes '_'): `<run dir>/images/<key>_epoch<E>.png` during
    fit, E the epoch that drew it (from 1, as the bar and checkpoint names count), replacing the previous epoch's file of that key;
    `<run dir>/images/<key>.png` in the test stage (the final pictures). The logger keeps every epoch's picture."""
    name = key.replace("/", "_")
    folder = Path(trainer.default_root_dir) / "images"
    if trainer.testing:
        return folder / f"{name}.png"
    path = folder / f"{name}_epoch{trainer.current_epoch + 1:03d}.png"
    if trainer.is_global_zero:
        for old in folder.glob(f"{name}_epoch[0-9][0-9][0-9].png"):
            if old != path:
                old.unlink(missing_ok=True)
    return path


def log_image(trainer, key: str, path: str | Path, caption: str | None = None) -> None:
    """Send a saved PNG to every logger that takes images (W&B); the file stays in the run dir."""
    if trainer is None or trainer.sanity_checking or not trainer.is_global_zero:
        return
    for logger in trainer.loggers:
        if hasattr(logger, "log_image"):
            extra = {"caption": [caption]} if caption else {}  # WandbLogger rejects caption=None
            logger.log_image(key=key, images=[str(path)], step=trainer.global_step, **extra)


def save_labelled_grid(images: torch.Tensor, titles: list[str], path: str | Path, ncol: int = 8) -> Path:
    """Write images (N, C, H, W) in [0, 1] as a grid with a small title over each."""
    n = len(images)
    nrow = int(math.ceil(n / ncol))
    figure, axes = new_figure(nrow, ncol, figsize=(ncol * 1.1, nrow * 1.25), squeeze=False)
    for i, axis in enumerate(axes.flat):
        axis.axis("off")
        if i < n:
            image = images[i].detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
            axis.imshow(image[:, :, 0] if image.shape[2] == 1 else image, cmap="gray", vmin=0, vmax=1)
            axis.set_title(titles[i], fontsize=8)
    return save_figure(figure, path)
