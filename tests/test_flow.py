"""Flow matching: the ODE solvers integrate known velocity fields, the loss regresses onto the straight path's
velocity, and the sampling contract (seed, shape, range, labels, guidance, solver options)."""

import pytest
import torch

from lab.errors import LabError
from lab.models.flow import FlowMatching, interpolate, ode_states
from lab.nets.unet import UNet


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_flow(conditional=False, **kwargs):
    torch.manual_seed(0)
    net = UNet((1, 8, 8), channels=(8, 16), num_classes=10 if conditional else 0, groups=4, heads=2)
    torch.nn.init.normal_(net.head[-1].weight, std=0.1)  # the head starts at zero; samples should depend on the net
    return FlowMatching(net, optimizer=lambda params: torch.optim.Adam(params, lr=1e-2), image_shape=(1, 8, 8),
                        conditional=conditional, steps=4, sample_metrics=False, **kwargs)


def test_euler_follows_the_straight_path_from_a_known_x0_to_its_x1():
    """The field (x1 - x) / (1 - t) points from any x on the path along it; evaluated at the right times, every
    Euler step lands on the path, and the last on x1. A step taken at the wrong time leaves the path."""
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(3, 1, 8, 8, generator=g), torch.rand(3, 1, 8, 8, generator=g)
    states = list(ode_states(lambda x, t: (x1 - x) / (1 - t), x0, steps=5, solver="euler"))
    assert len(states) == 6 and torch.equal(states[0], x0)
    for i, x in enumerate(states):
        assert torch.allclose(x, interpolate(x0, x1, torch.full((3,), i / 5)), atol=1e-5)
    late = list(ode_states(lambda x, t: (x1 - x) / (1 - min(t + 0.1, 0.95)), x0, steps=5, solver="euler"))
    assert not torch.allclose(late[-1], x1, atol=1e-2)


def test_heun_is_exact_for_a_velocity_linear_in_time_and_euler_is_first_order():
    x0, c = torch.zeros(2, 3), torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    field = lambda x, t: 2 * t * c  # x(1) = x0 + c  # noqa: E731
    *_, heun = ode_states(field, x0, steps=3, solver="heun")
    assert torch.allclose(heun, x0 + c, atol=1e-6)
    for steps in (4, 8):
        *_, euler = ode_states(field, x0, steps=steps, solver="euler")
        assert torch.allclose(euler, x0 + c * (1 - 1 / steps), atol=1e-6)  # sum of 2 (i/n) / n = 1 - 1/n


class Field(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, t, labels):
        return self.fn(x, t, labels)


def test_loss_regresses_onto_the_path_velocity():
    """With the net replaced by the exact conditional velocity the loss is 0; a zero net scores E||x1 - x0||^2."""
    module = tiny_flow()
    x1 = torch.rand(8, 1, 8, 8) * 2 - 1
    g = torch.Generator().manual_seed(0)
    t, x0 = torch.rand(8, generator=g), torch.randn(x1.shape, generator=g)
    module.net = Field(lambda x_t, t_in, labels: (x1 - x_t) / (1 - t_in[:, None, None, None] / 1000))
    assert float(module.loss(x1, None, torch.Generator().manual_seed(0))) < 1e-8
    module.net = Field(lambda x_t, t_in, labels: torch.zeros_like(x_t))
    assert abs(float(module.loss(x1, None, torch.Generator().manual_seed(0))) - float((x1 - x0).pow(2).mean())) < 1e-6



def test_logit_normal_training_times_gather_mid_path_and_a_bad_choice_is_refused():
    g = torch.Generator().manual_seed(0)
    uniform = tiny_flow().training_times(20_000, g)
    logit_normal = tiny_flow(time_sampling="logit_normal").training_times(20_000, g)
    for t in (uniform, logit_normal):
        assert 0 < float(t.min()) and float(t.max()) < 1
    assert abs(float(torch.logit(logit_normal).std()) - 1) < 0.02  # the logit is a standard normal
    mid = lambda t: float(((t > 0.25) & (t < 0.75)).float().mean())  # noqa: E731
    assert abs(mid(uniform) - 0.5) < 0.02 and abs(mid(logit_normal) - 0.7281) < 0.02  # P(|z| < logit(0.75))
    module = tiny_flow(time_sampling="logit_normal")
    module.net = Field(lambda x_t, t_in, labels: torch.zeros_like(x_t))
    assert torch.isfinite(module.loss(torch.rand(4, 1, 8, 8), None, g))
    with pytest.raises(LabError, match="unknown model.time_sampling 'beta'; choose one of uniform, logit_normal"):
        tiny_flow(time_sampling="beta")

@pytest.mark.parametrize("conditional", [False, True])
def test_sample_contract(conditional):
    module = tiny_flow(conditional=conditional, guidance=2.0 if conditional else 1.0)
    labels = [1, 2, 3, 4, 5] if conditional else None
    images = module.sample(5, seed=0, labels=labels)
    assert images.shape == (5, 1, 8, 8) and images.dtype == torch.float32
    assert 0 <= float(images.min()) and float(images.max()) <= 1 and float(images.std()) > 0.01
    assert torch.equal(images, module.sample(5, seed=0, labels=labels))
    assert not torch.equal(images, module.sample(5, seed=1, labels=labels))
    assert not torch.allclose(images, module.sample(5, seed=0, labels=labels, solver="euler"), atol=1e-4)
    assert module.sample_options() == ["steps", "solver", "guidance"]
    strip = module.denoise_strip(seed=0, steps=12, frames=4)
    assert strip.shape == (4, 1, 8, 8)
    if not conditional:
        assert torch.equal(strip[-1], module.sample(1, seed=0, steps=12)[0])
        with pytest.raises(LabError, match="needs a conditional model"):
            module.sample(2, seed=0, guidance=2.0)
    with pytest.raises(LabError, match="unknown solver 'rk4'"):
        module.sample(2, seed=0, solver="rk4")


def test_guidance_in_flow_changes_the_samples():
    module = tiny_flow(conditional=True)
    plain = module.sample(4, seed=0, labels=3, guidance=1.0)
    assert not torch.allclose(plain, module.sample(4, seed=0, labels=3, guidance=3.0), atol=1e-3)
    assert not torch.allclose(plain, module.sample(4, seed=0, labels=8, guidance=1.0), atol=1e-3)


def test_samples_are_drawn_in_batches_with_their_labels():
    module = tiny_flow(conditional=True)
    module.sample_batch = 2
    images = module.sample(5, seed=0, labels=[1, 2, 3, 4, 5])
    assert images.shape == (5, 1, 8, 8) and torch.equal(images, module.sample(5, seed=0, labels=[1, 2, 3, 4, 5]))
    assert torch.equal(images[:2], module.sample(2, seed=0, labels=[1, 2]))  # the first batch draws first
    assert not torch.allclose(images[:2], module.sample(2, seed=0, labels=[3, 4]), atol=1e-4)
