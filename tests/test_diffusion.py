"""Diffusion: the forward process in closed form, the samplers' steps against diffusers' schedulers, DDIM at eta = 1
as the ancestral sampler, the sampling contract, and EMA weights in validation pictures, checkpoints and lab-sample.
"""

import sys

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lab.errors import LabError
from lab.models.diffusion import DDPM, ddim_step, ddpm_step, q_sample, sampling_timesteps
from lab.nets.noise_schedules import alpha_bars, make_betas
from lab.nets.unet import UNet

if sys.version_info < (3, 11):
    diffusers = pytest.importorskip("diffusers")  # the dev extra installs it from Python 3.11 on
else:
    import diffusers

T = 1000


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_ddpm(conditional=False, num_timesteps=20, steps=5, **kwargs):
    torch.manual_seed(0)
    net = UNet((1, 8, 8), channels=(8, 16), num_classes=10 if conditional else 0, groups=4, heads=2)
    torch.nn.init.normal_(net.head[-1].weight, std=0.1)  # the head starts at zero; samples should depend on the net
    return DDPM(net, optimizer=lambda params: torch.optim.Adam(params, lr=1e-2), image_shape=(1, 8, 8),
                conditional=conditional, num_timesteps=num_timesteps, steps=steps, sample_metrics=False, **kwargs)


def diffusers_schedulers(schedule: str):
    betas = make_betas(schedule, T).float().numpy()
    common = dict(num_train_timesteps=T, trained_betas=betas, clip_sample=True)
    return (diffusers.DDPMScheduler(variance_type="fixed_small", **common),
            diffusers.DDIMScheduler(set_alpha_to_one=True, timestep_spacing="trailing", **common))


@pytest.mark.parametrize("schedule,name", [("linear", "linear"), ("cosine", "squaredcos_cap_v2")])
def test_schedules_equal_diffusers(schedule, name):
    ours = make_betas(schedule, T)
    theirs = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=name).betas.double()
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert float(alpha_bars(ours)[-1]) < 5e-5  # the last step is (nearly) pure noise


def test_forward_process_has_the_closed_form_mean_and_variance():
    abar = alpha_bars(make_betas("linear", T))
    x0 = torch.tensor([[0.8, -0.3, 0.0]])
    for t in (0, 250, 999):
        noise = torch.randn(200_000, 3, generator=torch.Generator().manual_seed(t))
        x_t = q_sample(x0.expand(len(noise), 3), noise, abar[t].expand(len(noise)))
        mean, var = float(abar[t].sqrt()), float(1 - abar[t])
        assert torch.allclose(x_t.mean(0), mean * x0[0], atol=4 * var ** 0.5 / 200_000 ** 0.5 + 1e-6)
        assert torch.allclose(x_t.var(0), torch.full((3,), var), rtol=0.02, atol=1e-6)
    assert torch.equal(q_sample(x0, torch.zeros_like(x0), torch.tensor([1.0])), x0)


def test_forward_process_equals_diffusers_add_noise():
    ddpm, _ = diffusers_schedulers("cosine")
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(4, 1, 8, 8, generator=g) * 2 - 1, torch.randn(4, 1, 8, 8, generator=g)
    t = torch.tensor([0, 10, 500, 999])
    ours = q_sample(x0, noise, alpha_bars(make_betas("cosine", T))[t])
    assert torch.allclose(ours, ddpm.add_noise(x0, noise, t), atol=1e-5)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddpm_step_equals_diffusers(schedule):
    """In float64 on both sides: diffusers' float32 1 - abar_t / abar_prev near t = 0 is off by ~5e-5."""
    ddpm, _ = diffusers_schedulers(schedule)
    ddpm.alphas_cumprod = abar = ddpm.alphas_cumprod.double()
    for t in (999, 998, 500, 37, 1, 0):
        g = torch.Generator().manual_seed(t)
        x_t, eps = (torch.randn(3, 1, 8, 8, generator=g, dtype=torch.float64) for _ in range(2))
        theirs = ddpm.step(eps, t, x_t, generator=torch.Generator().manual_seed(100 + t)).prev_sample
        noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(100 + t), dtype=torch.float64)
        ours = ddpm_step(x_t, eps, float(abar[t]), float(abar[t - 1]) if t else 1.0, noise)
        assert torch.allclose(ours, theirs, atol=1e-5), (t, float((ours - theirs).abs().max()))


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_equals_diffusers(schedule, eta):
    _, ddim = diffusers_schedulers(schedule)
    ddim.set_timesteps(50)
    timesteps = sampling_timesteps(T, 50)
    assert ddim.timesteps.tolist() == timesteps and timesteps[0] == T - 1 and timesteps[-1] == T // 50 - 1
    abar = ddim.alphas_cumprod.double()
    for i, t in enumerate(timesteps):
        g = torch.Generator().manual_seed(t)
        x_t, eps, noise = (torch.randn(3, 1, 8, 8, generator=g) for _ in range(3))
        theirs = ddim.step(eps, t, x_t, eta=eta, use_clipped_model_output=True, variance_noise=noise).prev_sample
        abar_prev = float(abar[timesteps[i + 1]]) if i + 1 < len(timesteps) else 1.0  # the final alpha-bar is 1
        ours = ddim_step(x_t, eps, float(abar[t]), abar_prev, eta, noise)
        assert torch.allclose(ours, theirs, atol=1e-5), (t, float((ours - theirs).abs().max()))


def test_samplers_over_a_trajectory_equal_diffusers_loops():
    """Whole reverse processes with the same net: timesteps, the final step and the noise draws line up."""
    module = tiny_ddpm().eval()
    betas = make_betas("cosine", 20).numpy()
    common = dict(num_train_timesteps=20, trained_betas=betas, clip_sample=True)

    def loop(scheduler, steps, **step_kwargs):
        g = torch.Generator().manual_seed(3)
        x = torch.randn(4, 1, 8, 8, generator=g)
        scheduler.set_timesteps(steps)
        with torch.no_grad():
            for t in scheduler.timesteps:
                eps = module.net(x, torch.full((4,), int(t)))
                x = scheduler.step(eps, t, x, generator=g, **step_kwargs).prev_sample
        return ((x + 1) / 2).clamp(0, 1)

    ddpm = diffusers.DDPMScheduler(variance_type="fixed_small", **common)
    ddim = diffusers.DDIMScheduler(set_alpha_to_one=True, timestep_spacing="trailing", **common)
    assert torch.allclose(module.sample(4, seed=3, sampler="ddpm"), loop(ddpm, 20), atol=1e-5)
    assert torch.allclose(module.sample(4, seed=3, sampler="ddim", steps=5, eta=0.0),
                          loop(ddim, 5, eta=0.0, use_clipped_model_output=True), atol=1e-5)


def test_ddim_with_eta_one_over_every_step_is_the_ancestral_sampler_and_eta_zero_is_deterministic():
    module = tiny_ddpm()
    ancestral = module.sample(6, seed=1, sampler="ddpm")
    assert torch.allclose(module.sample(6, seed=1, sampler="ddim", steps=20, eta=1.0), ancestral, atol=1e-5)
    assert not torch.allclose(module.sample(6, seed=2, sampler="ddpm"), ancestral, atol=1e-3)

    # eta = 0: the image is a function of the starting noise alone; the generator is not drawn from after it
    g = torch.Generator().manual_seed(5)
    states = list(module.states(6, g, None, sampler="ddim", steps=10, eta=0.0))
    state_after = g.get_state()
    g.manual_seed(5)
    torch.randn(6, 1, 8, 8, generator=g)
    assert torch.equal(state_after, g.get_state()) and len(states) == 11
    assert not torch.allclose(module.sample(6, seed=1, steps=10, eta=0.0),
                              module.sample(6, seed=1, steps=10, eta=1.0), atol=1e-3)


@pytest.mark.parametrize("conditional", [False, True])
def test_sample_contract(conditional):
    module = tiny_ddpm(conditional=conditional, guidance=2.0 if conditional else 1.0)
    labels = 7 if conditional else None
    images = module.sample(5, seed=0, labels=labels, steps=4)
    assert images.shape == (5, 1, 8, 8) and images.dtype == torch.float32
    assert 0 <= float(images.min()) and float(images.max()) <= 1 and float(images.std()) > 0.01
    assert torch.equal(images, module.sample(5, seed=0, labels=labels, steps=4))
    assert not torch.equal(images, module.sample(5, seed=1, labels=labels, steps=4))
    assert module.training  # sample leaves the mode as it found it
    strip = module.denoise_strip(seed=0, steps=4, frames=10)
    assert strip.shape == (5, 1, 8, 8)  # x_T and 4 steps: all of them
    assert torch.equal(strip[-1], module.sample(1, seed=0, steps=4)[0]) if not conditional else True


def test_guidance_combines_the_label_and_no_label_predictions():
    module = tiny_ddpm(conditional=True).eval()
    g = torch.Generator().manual_seed(0)
    x, t, labels = torch.randn(4, 1, 8, 8, generator=g), torch.tensor([19, 10, 3, 0]), torch.tensor([3, 3, 7, 0])
    with torch.no_grad():
        cond, uncond = module.net(x, t, labels), module.net(x, t, None)
        assert not torch.allclose(cond, uncond, atol=1e-4)  # the "no label" class is its own embedding
        assert torch.equal(uncond, module.net(x, t, torch.full((4,), 10)))
        for w in (0.0, 1.0, 3.0):
            assert torch.allclose(module.predict(x, t, labels, w), uncond + w * (cond - uncond), atol=1e-5)
    assert not torch.allclose(module.sample(4, seed=0, labels=3, guidance=1.0),
                              module.sample(4, seed=0, labels=3, guidance=3.0), atol=1e-3)
    torch.manual_seed(0)
    dropped = module.training_labels(torch.zeros(10_000, dtype=torch.long))
    assert set(dropped.unique().tolist()) == {0, 10} and abs(float((dropped == 10).float().mean()) - 0.1) < 0.015
    with pytest.raises(LabError, match="needs a conditional model"):
        tiny_ddpm().sample(2, seed=0, guidance=2.0)
    with pytest.raises(LabError, match="unknown sampler 'euler'"):
        tiny_ddpm().sample(2, seed=0, sampler="euler")


class RecordingDDPM(DDPM):
    """Keeps the weights its validation-end and test-end pictures are drawn with."""

    def on_validation_epoch_end(self) -> None:
        self.seen = {k: v.clone() for k, v in self.state_dict().items()}
        super().on_validation_epoch_end()

    def on_test_epoch_end(self) -> None:
        self.seen_in_test = {k: v.clone() for k, v in self.state_dict().items()}


def test_ema_weights_draw_the_validation_and_test_pictures_and_fill_the_checkpoint(tmp_path):
    from pytorch_lightning import Trainer
    from pytorch_lightning.callbacks import ModelCheckpoint

    from lab.callbacks.ema import EMA

    base = tiny_ddpm()
    module = RecordingDDPM(base.net, optimizer=base.optimizer, image_shape=(1, 8, 8), num_timesteps=20, steps=2,
                           sample_metrics=False)
    data = TensorDataset(torch.rand(64, 1, 8, 8), torch.zeros(64, dtype=torch.long))
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = Trainer(max_epochs=2, callbacks=[EMA(decay=0.5), checkpoint], logger=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path, num_sanity_val_steps=0)
    trainer.fit(module, DataLoader(data, batch_size=16), DataLoader(data, batch_size=32))
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    averaged, raw = saved["state_dict"], saved["current_model_state"]
    assert all(torch.equal(module.seen[k], averaged[k]) for k in averaged)
    assert not all(torch.allclose(averaged[k], raw[k]) for k in averaged)
    assert all(torch.equal(v, averaged[k]) for k, v in module.state_dict().items())  # after fit: the average
    for k in averaged:  # move away from them, so the test must load the checkpoint's averaged weights
        module.state_dict()[k].copy_(raw[k])
    trainer.test(module, DataLoader(data, batch_size=32), ckpt_path=str(tmp_path / "last.ckpt"), weights_only=True)
    assert all(torch.equal(module.seen_in_test[k], averaged[k]) for k in averaged)


def test_guidance_default_and_bad_settings():
    with pytest.raises(LabError, match="unknown noise schedule 'quadratic'"):
        tiny_ddpm(schedule="quadratic")
    with pytest.raises(LabError, match="steps must be between 1 and the model's 20 timesteps"):
        tiny_ddpm(steps=50)
    with pytest.raises(LabError, match="needs model.net.num_classes=10"):
        DDPM(UNet((1, 8, 8), channels=(8, 16), groups=4), optimizer=None, image_shape=(1, 8, 8), conditional=True)


@pytest.mark.parametrize("experiment,options", [("ddpm_cond_mnist5k", ["sampler=ddim", "steps=3", "eta=0.5"]),
                                                ("flow_cond_mnist5k", ["solver=heun", "steps=3"])])
def test_shipped_experiment_checkpoints_and_lab_sample_use_the_ema_weights(run_exp, tmp_path, capsys, experiment,
                                                                           options):
    from lab.commands.sample import main as lab_sample
    from lab.run.checkpoint import load_module

    run_exp([f"experiment={experiment}", "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1",
             "trainer.limit_train_batches=6", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
             "model.net.channels=[8,16]", "model.steps=2", "model.sample_metrics=false",
             "callbacks.ema.update_starting_at_step=0", "callbacks.ema.decay=0.5"])
    run = tmp_path / "run"
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    module, _ = load_module(run / "checkpoints" / "last.ckpt")
    own = module.state_dict()
    assert all(torch.equal(own[k], v) for k, v in saved["state_dict"].items())
    assert not all(torch.equal(own[k], v) for k, v in saved["current_model_state"].items())
    assert {"test_samples.png", "test_denoise_strip.png", "val_samples_epoch001.png"} <= \
        {p.name for p in (run / "images").iterdir()}

    grid = lab_sample([f"ckpt={run / 'checkpoints' / 'last.ckpt'}", "n=6", "label=7", "guidance=1.5",
                       f"out={tmp_path / 'sevens.png'}", *options])
    strip = lab_sample([f"ckpt={run / 'checkpoints' / 'last.ckpt'}", "denoise=true", f"out={tmp_path / 'strip.png'}",
                        *options])
    assert grid.stat().st_size > 0 and strip.stat().st_size > 0
    with pytest.raises(SystemExit):
        lab_sample([f"ckpt={run / 'checkpoints' / 'last.ckpt'}", "solver=rk4" if "ddpm" in experiment else "eta=1"])
    assert "error: unknown argument(s) " in capsys.readouterr().err
