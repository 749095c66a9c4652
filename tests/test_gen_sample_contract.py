"""Every generative family answers sample(n, seed, labels): shape, range, the same images for the same seed, the
global RNG untouched, labels only for conditional models; lab-sample passes labels and sampler options."""

import pytest
import torch
from hydra.utils import instantiate

from lab.errors import LabError
from lab.models.generative import GenerativeModule
from lab.train import compose_config

FAMILIES = ["vae_mnist5k", "convvae_mnist5k", "cvae_mnist5k", "gan_mnist5k", "dcgan_mnist5k", "cgan_mnist5k",
            "wgangp_mnist5k"]


def _model(experiment: str) -> GenerativeModule:
    torch.manual_seed(0)
    return instantiate(compose_config([f"experiment={experiment}", "model.sample_metrics=false"]).model,
                       _convert_="all")


@pytest.mark.parametrize("experiment", FAMILIES)
def test_sample_is_seeded_shaped_and_in_range(experiment):
    model = _model(experiment).train()
    rng = torch.get_rng_state()
    images = model.sample(12, seed=3)
    assert torch.equal(torch.get_rng_state(), rng)  # a local generator, never the global RNG
    assert images.shape == (12, 1, 28, 28) and 0 <= float(images.min()) and float(images.max()) <= 1
    assert torch.equal(images, model.sample(12, seed=3))
    assert not torch.equal(images, model.sample(12, seed=4))
    assert model.training  # sampled in eval mode, then restored
    assert model.conditional == (experiment in ("cvae_mnist5k", "cgan_mnist5k")) and model.num_classes == 10
    if model.conditional:
        sevens = model.sample(6, seed=3, labels=7)
        assert not torch.equal(sevens, images[:6])
        assert torch.equal(sevens, model.sample(6, seed=3, labels=[7] * 6))
    else:
        with pytest.raises(LabError, match=r"is unconditional \(model.conditional=false\) and cannot draw a given "
                                           r"class"):
            model.sample(4, seed=0, labels=7)


@pytest.mark.parametrize("labels, message", [([1, 2], "labels must be one class or 4 classes, got 2"),
                                             (10, r"labels must be classes 0..9, got \[10\]")])
def test_bad_labels_are_refused(labels, message):
    with pytest.raises(LabError, match=message):
        _model("cvae_mnist5k").sample(4, labels=labels)


def test_sampler_options_are_the_keywords_of_generate():
    class WithSteps(GenerativeModule):
        def generate(self, n, generator, labels, steps: int = 10, guidance: float = 0.0):
            return torch.full((n, *self.image_shape), steps / 100)

    model = WithSteps((1, 4, 4))
    assert WithSteps.sample_options() == ["steps", "guidance"] and _model("vae_mnist5k").sample_options() == []
    assert float(model.sample(2, seed=0, steps=50).mean()) == pytest.approx(0.5)
    with pytest.raises(LabError, match="WithSteps has no sampler option eta; its options: steps, guidance"):
        model.sample(2, eta=0.0)


def test_conditional_model_needs_labelled_nets(run_exp):
    with pytest.raises(LabError, match="model.conditional=true but the MLPEncoder takes no labels; set its num_classes"):
        run_exp(["experiment=vae_mnist5k", "model.conditional=true"])
