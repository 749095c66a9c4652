"""lab.run.fast_lightning: each patch removes per-step work and keeps Lightning's behaviour."""

import inspect
import sys

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.trainer import call
from pytorch_lightning.trainer.connectors.logger_connector.result import _ResultCollection, _ResultMetric
from pytorch_lightning.utilities import signature_utils

from lab.run.fast_lightning import PATCHES, does_nothing, overrides_hook, patched


@pytest.fixture(autouse=True)
def lab_patches(request):
    """Every test here runs inside the lab's patches, as a lab run does, unless it is marked `unpatched`."""
    if "unpatched" in request.keywords:
        yield []
        return
    with patched() as applied:
        yield applied


# --- applied only inside a run, undone after, skipped when Lightning lacks a name (importing: test_imports) ---

@pytest.mark.unpatched
def test_patches_are_applied_inside_and_undone_after():
    originals = [call._call_callback_hooks, call._call_lightning_module_hook, _ResultMetric.to]
    with patched() as applied:
        assert applied == list(PATCHES)
        assert [call._call_callback_hooks, call._call_lightning_module_hook, _ResultMetric.to] != originals
    assert [call._call_callback_hooks, call._call_lightning_module_hook, _ResultMetric.to] == originals
    assert "to" not in vars(_ResultMetric) or _ResultMetric.to is originals[2]
    with patched(enabled=False) as applied:  # trainer_patches=false
        assert applied == [] and call._call_callback_hooks is originals[0]


@pytest.mark.unpatched
def test_a_missing_private_name_falls_back_to_lightning(monkeypatch):
    monkeypatch.delattr(signature_utils, "is_param_in_hook_signature")
    monkeypatch.setitem(sys.modules, "pytorch_lightning.trainer.connectors.logger_connector.result", None)
    original_to = _ResultMetric.to
    with patched() as applied:
        assert applied == ["callback_dispatch", "module_hook_dispatch"]
        assert _ResultMetric.to is original_to
        counter = CountsBackward()
        _fit([counter], epochs=1)
        assert counter.calls == 5


# --- self.log device move ---

def _logged(value: torch.Tensor, times: int) -> _ResultCollection:
    results = _ResultCollection(training=True)
    results.batch_size = 4
    for _ in range(times):
        results.log("training_step", "loss", value, on_step=True, on_epoch=True)
    return results


def test_epoch_mean_is_unchanged_by_the_fast_path():
    results = _ResultCollection(training=True)
    for value, batch_size in ((1.0, 4), (3.0, 4), (6.0, 2)):
        results.batch_size = batch_size
        results.log("training_step", "loss", torch.tensor(value), on_step=True, on_epoch=True)
    assert results["training_step.loss"].compute().item() == pytest.approx((4 * 1.0 + 4 * 3.0 + 2 * 6.0) / 10)


def test_state_already_on_the_device_is_not_copied():
    result = _logged(torch.tensor(2.0), 3)["training_step.loss"]
    state = result.value
    assert result.to(torch.device("cpu")) is result and result.value is state


def test_state_on_another_device_still_moves():
    result = _logged(torch.tensor(2.0), 1)["training_step.loss"]
    result.to(torch.device("meta"))
    assert result.value.device.type == "meta" and result.cumulated_batch_size.device.type == "meta"


# --- callback hook dispatch and signature cache, in a real fit ---

class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        self.log("loss", self.layer(batch[0]).pow(2).mean())
        return self.layer(batch[0]).pow(2).mean()

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(20, 2)), batch_size=4)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class CountsBackward(Callback):
    def __init__(self):
        self.calls = 0

    def on_before_backward(self, trainer, pl_module, loss):
        self.calls += 1


def _fit(callbacks, epochs=2):
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=callbacks)
    trainer.fit(Tiny())
    return trainer


def test_a_callback_overriding_a_hook_is_called_every_step():
    counter, bystander = CountsBackward(), Callback()
    _fit([bystander, counter])
    assert counter.calls == 2 * 5


def test_a_hook_assigned_on_the_instance_is_still_called():
    seen = []
    callback = Callback()
    callback.on_train_batch_end = lambda trainer, module, outputs, batch, batch_idx: seen.append(batch_idx)
    assert overrides_hook(callback, "on_train_batch_end") and not overrides_hook(Callback(), "on_train_batch_end")
    _fit([callback], epochs=1)
    assert seen == [0, 1, 2, 3, 4]


def test_hooks_no_callback_overrides_are_not_dispatched(monkeypatch):
    labels = []
    trainer = _fit([Callback()], epochs=1)
    real_profile = type(trainer.profiler).profile
    monkeypatch.setattr(type(trainer.profiler), "profile",
                        lambda self, name: labels.append(name) or real_profile(self, name))
    trainer.fit_loop.max_epochs = 2
    trainer.fit(Tiny())
    assert not [label for label in labels if label.startswith("[Callback]Callback.on_before_backward")]


def test_hook_signatures_are_inspected_once_per_function(monkeypatch):
    from pytorch_lightning.core import module as lightning_module

    calls = []
    real = inspect.getfullargspec
    monkeypatch.setattr(inspect, "getfullargspec", lambda f: calls.append(f) or real(f))

    def training_step(self, dataloader_iter):
        pass

    class Fresh(Tiny):
        def training_step(self, batch, batch_idx):
            return super().training_step(batch, batch_idx)

    check = lightning_module.is_param_in_hook_signature
    assert [check(training_step, "dataloader_iter", explicit=True) for _ in range(3)] == [True] * 3
    assert [check(Fresh().training_step, "dataloader_iter", explicit=True) for _ in range(3)] == [False] * 3
    assert len(calls) == 2


def test_only_empty_hooks_count_as_doing_nothing():
    def documented():
        """Only a docstring."""

    def returns_none(x):
        return None

    def returns_a_value():
        return 5

    def prints():
        print()

    assert does_nothing(documented) and does_nothing(returns_none) and does_nothing(pl.LightningModule.on_after_backward)
    assert not any(does_nothing(f) for f in (returns_a_value, prints, pl.LightningModule.on_before_batch_transfer,
                                             pl.LightningModule.optimizer_step, print, None))


def test_module_hooks_run_when_overridden_and_are_skipped_when_empty(monkeypatch):
    class Counts(Tiny):
        def __init__(self):
            super().__init__()
            self.after_backward = 0

        def on_after_backward(self):
            self.after_backward += 1

    labels = []
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    real_profile = type(trainer.profiler).profile
    monkeypatch.setattr(type(trainer.profiler), "profile",
                        lambda self, name: labels.append(name) or real_profile(self, name))
    module = Counts()
    trainer.fit(module)
    assert module.after_backward == 5
    assert "[LightningModule]Counts.on_after_backward" in labels
    assert "[LightningModule]Counts.on_before_backward" not in labels
    assert "[LightningModule]Counts.training_step" in labels or "[Strategy]SingleDeviceStrategy.training_step" in labels
