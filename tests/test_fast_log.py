"""lab.fast_log: self.log skips the device move only when the state is already on the value's device."""

import pytest
import torch
from pytorch_lightning.trainer.connectors.logger_connector.result import _ResultCollection

import lab.models  # noqa: F401  (installs lab.fast_log)


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
