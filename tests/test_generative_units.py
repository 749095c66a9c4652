"""Generative models, fast parts: reparameterisation, KL, Fréchet distance, generator losses, nets, pictures, errors."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from lab.errors import LabError
from lab.models.gen_metrics import ClassifierFeatures, SampleMetrics, class_coverage, load_scorer
from lab.models.vae import gaussian_log_density, kl_standard_normal, reparameterize
from lab.nets.gan import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from lab.nets.vae import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from lab.callbacks.viz import save_image_grid


def test_reparameterised_sample_has_the_posterior_moments_and_passes_gradients():
    torch.manual_seed(0)
    mean = torch.tensor([1.0, -2.0, 0.0], requires_grad=True)
    logvar = torch.tensor([math.log(4.0), math.log(0.25), 0.0], requires_grad=True)
    z = reparameterize(mean.expand(200_000, 3), logvar.expand(200_000, 3))
    assert torch.allclose(z.mean(0), mean.detach(), atol=0.02)
    assert torch.allclose(z.var(0), logvar.detach().exp(), rtol=0.02)
    (z ** 2).mean(0).sum().backward()
    # d E[z^2] / d mean = 2 mean; d E[z^2] / d logvar = var
    assert torch.allclose(mean.grad, 2 * mean.detach(), atol=0.05)
    assert torch.allclose(logvar.grad, logvar.detach().exp(), rtol=0.05)


def test_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(0)
    mean, logvar = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.3, -1.2, 0.8])
    z = reparameterize(mean.expand(400_000, 3), logvar.expand(400_000, 3))
    zeros = torch.zeros(3)
    monte_carlo = (gaussian_log_density(z, mean, logvar) - gaussian_log_density(z, zeros, zeros)).mean()
    closed = kl_standard_normal(mean, logvar)
    assert closed == pytest.approx(float(monte_carlo), rel=0.01)
    assert float(kl_standard_normal(zeros, zeros)) == 0.0


class Flat(torch.nn.Module):
    """Features = the pixels, with a one-layer head so it can serve as the metric classifier."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.head = torch.nn.Linear(size, 2)

    def forward(self, x):
        return self.head(x.flatten(1))


def test_frechet_distance_is_zero_for_the_same_set_and_the_squared_shift_for_a_shifted_one():
    torch.manual_seed(0)
    real = torch.rand(400, 1, 2, 2)
    metrics = SampleMetrics(ClassifierFeatures(Flat(4), (1, 2, 2), "pixels"))
    metrics.update_real(real)
    assert metrics.compute(lambda n, labels: real[:n])["fd"] == pytest.approx(0.0, abs=1e-6)
    metrics.reset()
    metrics.update_real(real)
    shift = torch.tensor([0.5, -1.0, 2.0, 0.0]).view(1, 1, 2, 2)
    # same covariance, means 0.5^2 + 1 + 4 apart: FD = ||shift||^2
    assert metrics.compute(lambda n, labels: real[:n] + shift)["fd"] == pytest.approx(5.25, rel=1e-4)


def test_class_coverage_counts_classes_with_a_fair_share():
    assert class_coverage(torch.tensor([100] * 10)) == 10
    assert class_coverage(torch.tensor([910, 10, 10, 10, 10, 10, 10, 10, 10, 10])) == 1


def test_non_saturating_loss_keeps_the_gradient_the_saturating_one_loses():
    logits = torch.tensor([-6.0, -6.0], requires_grad=True)  # D confidently rejects the samples
    F.binary_cross_entropy_with_logits(logits, torch.ones(2)).backward()  # -log D(G(z))
    non_saturating = logits.grad.abs().mean()
    logits.grad = None
    (-F.binary_cross_entropy_with_logits(logits, torch.zeros(2))).backward()  # log(1 - D(G(z)))
    assert non_saturating > 100 * logits.grad.abs().mean()


@pytest.mark.parametrize("size", [28, 32])
def test_nets_produce_the_image_shape(size):
    shape = (1 if size == 28 else 3, size, size)
    z = torch.randn(4, 8)
    x = torch.rand(4, *shape)
    for encoder in (MLPEncoder(shape, 8), ConvEncoder(shape, 8)):
        mean, logvar = encoder(x)
        assert mean.shape == logvar.shape == (4, 8)
    for decoder in (MLPDecoder(shape, 8), ConvDecoder(shape, 8), DCGANGenerator(shape, 8), MLPGenerator(shape, 8)):
        assert decoder(z).shape == (4, *shape)
    for discriminator in (DCGANDiscriminator(shape), MLPDiscriminator(shape)):
        assert discriminator(x).shape == (4,)


@pytest.mark.parametrize("net", [MLPEncoder, ConvDecoder, DCGANGenerator, MLPGenerator])
def test_latent_size_zero_is_refused(net):
    with pytest.raises(LabError, match=r"latent size must be a positive integer, got 0; set model.latent_dim"):
        net((1, 28, 28), 0)


@pytest.mark.parametrize("net", [ConvEncoder, DCGANDiscriminator])
def test_conv_nets_refuse_images_they_cannot_take(net):
    with pytest.raises(LabError, match=r"H divisible by 4 .*got \[1, 30, 30\]; use the MLP variant"):
        net((1, 30, 30), *([8] if net is ConvEncoder else []))


def test_image_grid_file_has_the_expected_size(tmp_path):
    path = save_image_grid(torch.rand(64, 1, 28, 28), tmp_path / "grid.png", nrow=8, scale=3)
    side = (8 * (28 + 2) + 2) * 3
    assert plt.imread(path).shape[:2] == (side, side)


def test_classifier_of_the_wrong_image_shape_is_refused():
    from lab.nets.lenet import LeNet5

    with pytest.raises(LabError, match=r"does not take images of shape \[3, 32, 32\]"):
        ClassifierFeatures(LeNet5((1, 28, 28), 10, padding="valid"), (3, 32, 32), "test net")


def test_missing_classifier_checkpoint_is_refused(tmp_path):
    with pytest.raises(LabError, match=r"classifier checkpoint .*none.ckpt does not exist \(model.classifier_ckpt\)"):
        load_scorer(str(tmp_path / "none.ckpt"), (1, 28, 28), 10, None)


@pytest.mark.parametrize("latent, shape", [(2, (225, 1, 28, 28)), (16, (72, 1, 28, 28))])
def test_latent_traversal_is_a_grid_for_2d_and_rows_of_coordinates_otherwise(latent, shape):
    from lab.models.vae import VAE

    vae = VAE(MLPEncoder((1, 28, 28), latent), MLPDecoder((1, 28, 28), latent), optimizer=None, latent_dim=latent)
    images, nrow = vae.traversal(torch.rand(8, 1, 28, 28))
    assert images.shape == shape and nrow == (15 if latent == 2 else 9)
    assert vae.reconstructions(torch.rand(32, 1, 28, 28)).shape == (64, 1, 28, 28)
