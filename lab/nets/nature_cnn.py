"""The convolutional torso of DQN's Nature paper (Mnih et al. 2015) for stacked 84x84 frames, and a Q-net on it.

Input: uint8 frames (N, C, 84, 84) as the env returns them; the network divides by 255 (so replay buffers and
rollouts keep one byte a pixel). Conv 32x8x8/4 -> 64x4x4/2 -> 64x3x3/1 -> Linear 3136 -> 512, ReLU throughout,
orthogonal init with gain sqrt(2) and zero biases (as CleanRL's Atari agents).

The convolutions run in channels-last memory layout (weights and inputs), the layout oneDNN's and cuDNN's fast conv
kernels want: the same arithmetic, and on this lab's CPU a 256-frame forward+backward+Adam step takes 143 ms instead
of 240 ms (README, Atari). Flatten restores the usual (C, H, W) order, so the Linear layers see what they always did.
Under mixed precision the Q-net's output layer runs in fp32: TD errors of a few hundredths on Q-values of a few
units need more than bf16's three significant digits; the convolutions, where the time goes, stay in bf16.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from lab.nets.activations import activation
from lab.nets.init import orthogonal_init


def nature_convs(in_features: Sequence[int]) -> tuple[nn.Sequential, int]:
    """The three conv layers (+ flatten) for observations of shape (C, H, W), and their flat output size."""
    if isinstance(in_features, int):
        raise ValueError(f"the Nature CNN needs the observation shape (C, H, W), got the flat size {in_features}")
    channels, height, width = (int(s) for s in in_features)
    convs = nn.Sequential(nn.Conv2d(channels, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                          nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten())
    with torch.no_grad():
        flat = convs(torch.zeros(1, channels, height, width)).shape[1]
    return convs, flat


def scaled_frames(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames -> floats in [0, 1], channels-last, in the dtype the first conv will run in (the autocast
    dtype when autocast is on, so that the conv does not cast them again); floating input passes through.

    The same values as `frames.float() / 255` cast to that dtype (bf16 and fp16 hold 0..255 exactly, and their
    division rounds the fp32 quotient); the layout change runs on the cast tensor, where a 32-frame batch
    takes 0.4-0.45 ms instead of the 0.8 ms of one fused `.to(float32, memory_format=...)` on this lab's CPU."""
    if frames.dtype != torch.uint8:
        return frames.contiguous(memory_format=torch.channels_last)
    device = frames.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else torch.float32
    return frames.to(dtype).div_(255.0).contiguous(memory_format=torch.channels_last)


def _orthogonal(net: nn.Module, last: nn.Linear | None = None) -> None:
    orthogonal_init(net, last, 1.0)


class NatureTorso(nn.Module):
    """Frames (N, C, H, W) -> `features` (512) ReLU features, for heads to share; `out_features` says how many."""

    def __init__(self, in_features: Sequence[int], features: int = 512) -> None:
        super().__init__()
        self.convs, flat = nature_convs(in_features)
        self.fc = nn.Linear(flat, features)
        self.out_features = features
        _orthogonal(self)
        self.convs.to(memory_format=torch.channels_last)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(self.convs(scaled_frames(frames))))


class NatureCNN(nn.Module):
    """The Nature DQN network: the convs, fully connected `hidden` layers ([512]) and a linear output."""

    def __init__(self, in_features: Sequence[int], out_features: int, hidden: Sequence[int] = (512,),
                 activation_name: str = "relu") -> None:
        super().__init__()
        self.convs, width = nature_convs(in_features)
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), activation(activation_name)]
            width = size
        self.out = nn.Linear(width, out_features)
        self.fc = nn.Sequential(*layers)
        _orthogonal(self, last=self.out)
        self.convs.to(memory_format=torch.channels_last)

    @staticmethod
    def prepare_input(frames: torch.Tensor) -> torch.Tensor:
        """What forward feeds the convs (`scaled_frames`); forward takes its result as it is, so a batch that goes
        through two nets (Double DQN's online and target nets on s') is converted once."""
        return scaled_frames(frames)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        features = self.fc(self.convs(scaled_frames(frames)))
        with torch.autocast(features.device.type, enabled=False):  # Q-values in fp32 under bf16/fp16 autocast
            return self.out(features.float())
