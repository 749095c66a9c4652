"""Generative models trained on mnist5k (slow): the ELBO improves, the IW bound is tighter, GAN samples get close
to the data in classifier features and cover the classes; sample.py writes a grid; bad inputs get their errors.

Thresholds come from measured runs (2-core CPU, OMP_NUM_THREADS=1): VAE untrained test ELBO -543.5 nats, after 3
epochs -181 and after 5 about -155; MLP GAN: Fréchet distance 573 untrained, 25.6 after 12 epochs (8 classes).
"""

import runpy

import matplotlib.pyplot as plt
import pytest
import torch
from hydra.utils import instantiate

from lab.run.checkpoint import load_module
from lab.errors import LabError
from lab.train import compose_config, run_experiment

from conftest import QUIET, REPO

sample_main = runpy.run_path(str(REPO / "scripts" / "sample.py"), run_name="sample")["main"]


@pytest.fixture(scope="module")
def classifier_ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("classifier")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    run_experiment(QUIET + ["experiment=lenet_mnist5k", "trainer.max_epochs=1", "test=false"], out)
    torch.set_num_threads(before)
    return out / "checkpoints" / "last.ckpt"


def _test_batch(n: int = 256) -> torch.Tensor:
    from lab.data.embedded import MNIST5kDataModule

    return MNIST5kDataModule(seed=0).images("test", n)


@pytest.mark.slow
def test_vae_elbo_improves_and_importance_weighting_tightens_it(run_exp, tmp_path, one_thread, capsys):
    torch.manual_seed(0)
    untrained = instantiate(compose_config(["experiment=vae_mnist5k"]).model, _convert_="all")
    x = _test_batch()
    with torch.no_grad():
        untrained_elbo = float(untrained(x)["elbo"].mean())
    assert untrained_elbo < -500

    metrics = run_exp(["experiment=vae_mnist5k", "trainer.max_epochs=5", "model.sample_metrics=false"])
    assert metrics["test/elbo"] > untrained_elbo + 360, metrics  # measured ~-155 vs -543.5
    assert metrics["test/elbo"] > -172  # 3 epochs (posterior nearly unused, KL 6) reach only ~-181
    assert metrics["test/kl"] > 7  # the posterior carries information (measured ~10)
    assert metrics["test/nll_iw"] < -metrics["test/elbo"]

    vae, _ = load_module(tmp_path / "run" / "checkpoints" / "last.ckpt")
    torch.manual_seed(1)
    with torch.no_grad():
        elbo = torch.stack([vae(x)["elbo"] for _ in range(8)]).mean(0)  # per image, averaged over 8 draws
        iw = vae.iw_log_likelihood(x, k=64)
    assert float(iw.mean()) >= float(elbo.mean()) + 1.0
    assert float((iw >= elbo - 1.0).float().mean()) > 0.95

    images = sorted(p.name for p in (tmp_path / "run" / "images").iterdir())
    # the latest picture of each kind (named by the epoch that drew it) and the final ones; earlier epochs' go to
    # the logger only
    assert images == ["test_reconstructions.png", "test_samples.png", "test_traversal.png",
                      "val_reconstructions_epoch005.png", "val_samples_epoch005.png", "val_traversal_epoch005.png"]
    # 32 inputs + 32 reconstructions, 8 a row, 3 screen pixels per image pixel
    recon = plt.imread(next((tmp_path / "run" / "images").glob("test_reconstructions.png")))
    assert recon.shape[:2] == ((8 * 30 + 2) * 3, (8 * 30 + 2) * 3)

    out = tmp_path / "samples.png"
    sample_main([f"ckpt={tmp_path / 'run/checkpoints/last.ckpt'}", "n=20", "nrow=5", f"out={out}"])
    assert "wrote 20 samples of vae_mnist5k" in capsys.readouterr().out
    assert plt.imread(out).shape[:2] == ((4 * 30 + 2) * 3, (5 * 30 + 2) * 3)


@pytest.mark.slow
def test_gan_samples_approach_the_data_and_cover_the_classes(run_exp, classifier_ckpt, one_thread):
    common = ["experiment=gan_mnist5k", f"model.classifier_ckpt={classifier_ckpt}"]
    untrained = run_exp(common + ["trainer.max_epochs=0"], subdir="untrained")
    trained = run_exp(common + ["trainer.max_epochs=12"], subdir="trained")
    assert untrained["test/classes_covered"] <= 3
    assert trained["test/fd"] < 0.12 * untrained["test/fd"], (untrained, trained)  # measured 25.6 vs 573
    assert trained["test/classes_covered"] >= 8
    assert trained["train/d_real"] > trained["train/d_fake"] > 0.01


def test_gan_fixed_noise_pictures_every_epoch_and_sampling(run_exp, tmp_path, one_thread):
    run_exp(["experiment=gan_mnist5k", "trainer.max_epochs=2", "+trainer.limit_train_batches=3",
             "+trainer.limit_val_batches=1", "model.sample_metrics=false", "test=false",
             "callbacks.model_checkpoint.monitor=null"])  # no val/fd without sample metrics
    images = sorted(p.name for p in (tmp_path / "run" / "images").iterdir())
    assert images == ["train_fixed_noise_samples_epoch002.png"]  # the latest only, named by its epoch
    gan, _ = load_module(tmp_path / "run" / "checkpoints" / "last.ckpt")
    samples = gan.sample(10, seed=3)
    assert samples.shape == (10, 1, 28, 28) and 0 <= float(samples.min()) and float(samples.max()) <= 1
    assert torch.equal(samples, gan.sample(10, seed=3))


def test_image_shape_that_does_not_fit_the_network(run_exp):
    with pytest.raises(LabError, match=r"VAE is built for images of shape \[1, 32, 32\] but the data gives "
                                       r"\[1, 28, 28\]; set model.image_shape"):
        run_exp(["experiment=vae_mnist5k", "model.image_shape=[1,32,32]", "model.sample_metrics=false"])


def test_latent_size_zero_in_the_config(run_exp):
    with pytest.raises(LabError, match=r"model.latent_dim must be > 0, got 0"):
        run_exp(["experiment=gan_mnist5k", "model.latent_dim=0"])


def test_missing_classifier_checkpoint_in_the_config(run_exp, tmp_path):
    with pytest.raises(LabError, match=r"classifier checkpoint .*missing.ckpt does not exist \(model.classifier_ckpt\)"):
        run_exp(["experiment=dcgan_mnist5k", f"model.classifier_ckpt={tmp_path / 'missing.ckpt'}"])


@pytest.mark.slow
def test_sample_script_refuses_a_classifier_checkpoint(classifier_ckpt, capsys):
    with pytest.raises(SystemExit) as exit_:  # the console command: one line on stderr, status 2
        sample_main([f"ckpt={classifier_ckpt}"])
    assert exit_.value.code == 2
    assert "holds a Classifier, which cannot sample; give a generative checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_conditional_vae_draws_the_class_it_is_asked_for(run_exp, tmp_path, one_thread, capsys):
    metrics = run_exp(["experiment=cvae_mnist5k", "trainer.max_epochs=3"])
    assert metrics["test/class_agreement"] >= 0.9, metrics  # measured 0.99 after 5 epochs
    assert metrics["test/classes_covered"] == 10

    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    sample_main([f"ckpt={ckpt}", "n=8", "label=7", f"out={tmp_path / 'sevens.png'}"])
    assert "wrote 8 samples of cvae_mnist5k (class 7)" in capsys.readouterr().out
    sample_main([f"ckpt={ckpt}", "n=30", f"out={tmp_path / 'classes.png'}"])  # no label: one row per class
    assert "wrote 30 samples of cvae_mnist5k (one row per class)" in capsys.readouterr().out
    assert plt.imread(tmp_path / "classes.png").shape[:2] == ((10 * 30 + 2) * 3, (3 * 30 + 2) * 3)
    with pytest.raises(SystemExit):
        sample_main([f"ckpt={ckpt}", "steps=10"])
    assert "unknown argument(s) steps; keys: ckpt, n, out, seed, nrow, label, denoise; sampler options of VAE: none" \
        in capsys.readouterr().err
