"""GAN stability options: the gradient penalty by hand, spectral norm's singular values, the losses, refusals."""

import pytest
import torch

from lab.errors import LabError
from lab.models.gan import GAN, apply_spectral_norm, gradient_penalty
from lab.nets.gan import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator


def test_gradient_penalty_equals_the_hand_computed_value():
    a = torch.tensor(1.0, requires_grad=True)
    critic = lambda x: a * x.pow(2).sum(-1)  # grad_x = 2 a x
    real, fake = torch.tensor([[3.0, 4.0], [1.0, 0.0]]), torch.zeros(2, 2)
    eps = torch.tensor([0.5, 0.25])  # x_hat = [1.5, 2], [0.25, 0]: gradient norms 5 and 0.5
    penalty = gradient_penalty(critic, real, fake, eps)
    assert float(penalty.detach()) == pytest.approx(((5 - 1) ** 2 + (0.5 - 1) ** 2) / 2)  # 8.125
    penalty.backward()  # d/da mean (2a|x_hat| - 1)^2 = mean 2 (2a|x_hat| - 1) 2|x_hat|, |x_hat| = 2.5 and 0.25
    assert float(a.grad) == pytest.approx((2 * 4 * 5 + 2 * (-0.5) * 0.5) / 2)  # 19.75


def test_gradient_penalty_reaches_a_conditional_critic_with_its_labels():
    torch.manual_seed(0)
    critic = DCGANDiscriminator((1, 28, 28), width=8, batch_norm=False, num_classes=10)
    real, fake = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    y = torch.tensor([0, 1, 2, 3])
    penalty = gradient_penalty(critic, real, fake, torch.rand(4), y)
    penalty.backward()
    assert penalty > 0 and critic.out.embed.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("conditional", [False, True])
def test_spectral_norm_keeps_every_layer_s_largest_singular_value_near_one(conditional):
    torch.manual_seed(0)
    critic = apply_spectral_norm(DCGANDiscriminator((1, 28, 28), width=16, batch_norm=False,
                                                    num_classes=10 if conditional else 0))
    y = torch.randint(0, 10, (8,)) if conditional else None
    for _ in range(30):  # one power iteration per forward in training mode
        critic(torch.rand(8, 1, 28, 28), y)
    layers = [m for m in critic.modules() if hasattr(m, "parametrizations")]
    assert len(layers) == (4 if conditional else 3)  # 2 convs, the head (and the projection embedding)
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, abs=0.03), type(layer).__name__


def _gan(**kwargs) -> GAN:
    shape = (1, 28, 28)
    nets = {"generator": DCGANGenerator(shape, 8, width=8),
            "discriminator": DCGANDiscriminator(shape, width=8, batch_norm=kwargs.pop("batch_norm", False))}
    return GAN(**nets, optimizer=None, latent_dim=8, sample_metrics=False, **kwargs)


def test_losses_of_each_game():
    real, fake = torch.tensor([2.0, -0.5]), torch.tensor([-3.0, 0.5])
    assert float(_gan(loss="hinge").discriminator_loss(real, fake)) == pytest.approx((0 + 1.5) / 2 + (0 + 1.5) / 2)
    assert float(_gan(loss="wgan_gp").discriminator_loss(real, fake)) == pytest.approx(-1.25 - 0.75)
    for loss in ("hinge", "wgan_gp"):
        assert float(_gan(loss=loss).generator_loss(fake)) == pytest.approx(1.25)


@pytest.mark.parametrize("options, message", [
    ({"loss": "wgan_gp", "batch_norm": True}, "a critic trained with a gradient penalty must not use batch norm"),
    ({"spectral_norm": True, "batch_norm": True}, "a critic trained with spectral norm must not use batch norm"),
    ({"loss": "wasserstein"}, "unknown model.loss 'wasserstein'; choose one of non_saturating, saturating, "
                              "wgan_gp, hinge"),
    ({"conditional": True}, "model.conditional=true but the generator or discriminator takes no labels"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(LabError, match=message):
        _gan(**options)


@pytest.mark.parametrize("experiment", ["wgangp_mnist5k", "cgan_mnist5k"])
def test_shipped_stable_gans_train_a_few_steps(run_exp, experiment):
    metrics = run_exp([f"experiment={experiment}", "trainer.max_epochs=1", "+trainer.limit_train_batches=10",
                       "+trainer.limit_val_batches=1", "model.sample_metrics=false", "test=false",
                       "callbacks.model_checkpoint.monitor=null"])
    assert metrics["trainer/global_step"] == (15 if experiment == "wgangp_mnist5k" else 20)  # d_steps 2 / 1
    assert torch.isfinite(torch.tensor(metrics["train/loss_g"]))
